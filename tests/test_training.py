"""Training: augmentations do what they say, steps lower losses, adversarial and KL terms reach the gradient."""

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_AE, TINY_BWE, TINY_FLOW, TINY_STEREO, music, retuned_autoencoders

from reencoder_cli.errors import WeightsError
from reencoder_cli.io.modelfile import save_model
from reencoder_cli.models.autoencoder import Autoencoder
from reencoder_cli.train.autoencoder import AETrainConfig, AutoencoderTrainer, augment
from reencoder_cli.train.latent import BWETrainer, FlowTrainer, LatentTrainConfig, StereoTrainer
from reencoder_cli.train.loop import Runtime, ema_update

CPU = Runtime(torch.device("cpu"))


def test_augment_gain_scales_the_target_and_mix_sums_latents() -> None:
    z, wav = torch.randn(6, 4, 5), torch.randn(6, 100)
    gen = torch.Generator().manual_seed(0)
    only_gain = AETrainConfig(gain_prob=1.0, mix_prob=0.0, noise_prob=0.0)
    z_in, target, info = augment(z, wav, only_gain, gen)
    g = info["gain"]
    assert (g >= 0.25).all() and (g <= 2.0).all() and not torch.allclose(g, torch.ones(6))
    assert torch.allclose(z_in, g[:, None, None] * z) and torch.allclose(target, g[:, None] * wav)
    only_mix = AETrainConfig(gain_prob=0.0, mix_prob=1.0, noise_prob=0.0)
    z_in, target, info = augment(z, wav, only_mix, gen)
    partner = torch.roll(torch.arange(6), 1)
    assert torch.allclose(z_in, z + z[partner]) and torch.allclose(target, wav + wav[partner])
    only_noise = AETrainConfig(gain_prob=0.0, mix_prob=0.0, noise_prob=1.0, noise_max=0.3)
    z_in, target, info = augment(z, wav, only_noise, gen)
    assert torch.equal(target, wav) and not torch.allclose(z_in, z)
    assert (info["noise"] <= 0.3).all() and (info["noise"] > 0).any()
    frame_norm = lambda x: x.square().mean(dim=1).sqrt()  # noqa: E731
    assert torch.allclose(frame_norm(z_in), frame_norm(z), rtol=1e-5)  # the direction moves, the level stays


class Crops:
    """Fixed music crops: training on the same batch must lower the loss."""

    def __init__(self, batch: int, length: int) -> None:
        self.wav = np.stack([music(length / 44100, seed=i)[0] for i in range(batch)])

    def mono(self, batch: int) -> np.ndarray:
        return self.wav[:batch]


def test_autoencoder_steps_lower_the_loss() -> None:
    config = AETrainConfig(
        batch=2,
        crop=8192,
        warmup=1,
        lr=2e-3,
        gain_prob=0,
        mix_prob=0,
        noise_prob=0,
        input_gain_db=(0.0, 0.0),
        gan_start=10**9,
    )
    trainer = AutoencoderTrainer(TINY_AE, config, CPU, Crops(2, 8192), np.zeros((1, 4096), np.float32))
    space = trainer.ema.latent_space()
    losses = [trainer.step(s)["loss"] for s in range(8)]
    assert losses[-1] < losses[0]
    assert trainer.ema.latent_space() != space  # a new latent space: modules must be retrained


def test_decoder_only_training_keeps_the_encoder_and_lowers_the_loss() -> None:
    config = AETrainConfig(
        batch=2,
        crop=8192,
        disc_crop=4096,
        warmup=1,
        lr=2e-3,
        noise_prob=0,
        input_gain_db=(0.0, 0.0),
        gan_start=0,
        decoder_only=True,
    )
    trainer = AutoencoderTrainer(TINY_AE, config, CPU, Crops(2, 8192), np.zeros((1, 4096), np.float32))
    space = trainer.ema.latent_space()
    decoder = [p.detach().clone() for p in trainer.ae.decoder.parameters()]
    losses = [trainer.step(s)["mel"] for s in range(8)]
    assert losses[-1] < losses[0]
    assert trainer.ae.latent_space() == trainer.ema.latent_space() == space  # latents and modules stay valid
    assert any(not torch.equal(a, b) for a, b in zip(decoder, trainer.ae.decoder.parameters()))


def test_autoencoder_gan_phase_updates_the_discriminator() -> None:
    config = AETrainConfig(batch=2, crop=8192, disc_crop=4096, warmup=1, gan_start=0)
    trainer = AutoencoderTrainer(TINY_AE, config, CPU, Crops(2, 8192), np.zeros((1, 4096), np.float32))
    before = [p.detach().clone() for p in trainer.disc.parameters()]
    logs = trainer.step(0)
    assert {"disc", "adv", "fm"} <= set(logs)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.disc.parameters()))


def test_autoencoder_run_starts_from_given_weights_and_refuses_other_sizes(tmp_path: Path) -> None:
    torch.manual_seed(5)
    source = Autoencoder(TINY_AE)
    sha = save_model(tmp_path / "start.safetensors", source, "autoencoder", TINY_AE, train={"steps": 42})
    trainer = AutoencoderTrainer(TINY_AE, AETrainConfig(batch=2, crop=8192), CPU, Crops(2, 8192), np.zeros((1, 4096)))
    origin = trainer.initialize(str(tmp_path / "start.safetensors"))
    assert origin["sha256"] == sha and origin["steps"] == 42
    save_model(tmp_path / "tuned.safetensors", source, "autoencoder", TINY_AE, train={"steps": 5, "init": origin})
    assert trainer.initialize(str(tmp_path / "tuned.safetensors"))["steps"] == 47  # the whole lineage
    for model in (trainer.ae, trainer.ema):
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values()))
    other = AutoencoderTrainer(
        replace(TINY_AE, dec_dim=48), AETrainConfig(), CPU, Crops(2, 8192), np.zeros((1, 4096), np.float32)
    )
    with pytest.raises(WeightsError, match="sizes differ"):
        other.initialize(str(tmp_path / "start.safetensors"))


def test_a_run_with_the_spectral_front_end_starts_from_weights_without_it(tmp_path: Path) -> None:
    torch.manual_seed(5)
    complex_front = replace(TINY_AE, front_end="complex")
    source = Autoencoder(complex_front)
    save_model(tmp_path / "start.safetensors", source, "autoencoder", complex_front)
    config = replace(TINY_AE, front_end="spectral")
    trainer = AutoencoderTrainer(config, AETrainConfig(batch=2, crop=8192), CPU, Crops(2, 8192), np.zeros((1, 4096)))
    origin = trainer.initialize(str(tmp_path / "start.safetensors"))
    # the front end is new and the encoder's first weights read its channels; everything else is copied
    expected = [k for k in trainer.ae.state_dict() if k.startswith("front.") or k == "encoder.proj_in.weight"]
    assert origin["fresh"] == expected and expected
    grown = trainer.ae.state_dict()
    for name, tensor in source.state_dict().items():
        if name not in expected:
            assert torch.equal(grown[name], tensor), name


class LatentCrops:
    """Synthetic cached latents: the target is a fixed function of the input."""

    def __init__(self, rates: tuple[int, ...], d: int = 16, frames: int = 24) -> None:
        gen = torch.Generator().manual_seed(0)
        full = torch.randn(2, d, frames, generator=gen)
        self.crop = {"full": full, "mid": full.mean(0, keepdim=True)}
        self.crop |= {f"r{r}": 0.5 * full + 0.1 * i for i, r in enumerate(rates)}

    def sample(self, batch: int) -> list[dict[str, torch.Tensor]]:
        return [self.crop] * batch


CONFIG = LatentTrainConfig(frames=24, batch=4, warmup=1, lr=2e-3, disc_start=0, valid_batches=1, disc_channels=8)


@pytest.mark.parametrize(
    "trainer_cls,model_config,key",
    [(BWETrainer, TINY_BWE, "l1"), (FlowTrainer, TINY_FLOW, "loss"), (StereoTrainer, TINY_STEREO, "l1")],
)
def test_latent_steps_lower_the_loss(trainer_cls: type, model_config: object, key: str) -> None:
    crops = LatentCrops(TINY_BWE.rates)
    config = replace(CONFIG, adv_weight=0.0, fm_weight=0.0)
    trainer = trainer_cls(model_config, config, CPU, crops, crops)
    first = trainer.validate()[key]
    for step in range(15):
        trainer.step(step)
    assert trainer.validate()[key] < first


def test_latent_trainers_validate_and_export_the_moving_average() -> None:
    crops = LatentCrops(TINY_BWE.rates)
    start = BWETrainer(TINY_BWE, CONFIG, CPU, crops, crops)
    initial = [p.clone() for p in start.exported().parameters()]
    for step in range(3):
        start.step(step)
    # the average lies between the start and the trained weights, equal to neither
    pairs = list(zip(initial, start.exported().parameters(), start.model.parameters()))
    assert all(not torch.equal(a, e) and not torch.equal(e, t) for a, e, t in pairs if not torch.equal(a, t))
    scores = start.validate()
    assert {"l1", "live/l1"} <= set(scores) and scores["l1"] != scores["live/l1"]

    # with no memory, the average is the trained weights and both scores agree
    no_memory = BWETrainer(TINY_BWE, replace(CONFIG, ema=0.0), CPU, crops, crops)
    no_memory.step(0)
    assert all(torch.equal(e, t) for e, t in zip(no_memory.exported().parameters(), no_memory.model.parameters()))
    scores = no_memory.validate()
    assert scores["l1"] == pytest.approx(scores["live/l1"])


def test_random_styles_follow_the_fitted_prior() -> None:
    """Before fitting, --seed draws N(0, I); after, the styles' mixture: its mean and covariance."""
    from reencoder_cli.models.stereo import LatentUpmix

    upmix = LatentUpmix(TINY_STEREO)
    dim = TINY_STEREO.style_dim
    gen = torch.Generator().manual_seed(7)
    torch.testing.assert_close(upmix.random_style(3, 7), torch.randn(3, dim, generator=gen))

    gen = torch.Generator().manual_seed(0)
    centre = torch.randn(dim, generator=gen)
    mixing = 0.5 * torch.randn(dim, dim, generator=gen)
    means = centre + torch.randn(40000, dim, generator=gen) @ mixing.T
    upmix.fit_prior(means, torch.full_like(means, np.log(0.1)))  # each crop's own spread: variance 0.1
    draws = upmix.random_style(40000, 1)
    torch.testing.assert_close(draws.mean(dim=0), centre, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(draws.T), mixing @ mixing.T + 0.1 * torch.eye(dim), atol=0.05, rtol=0.05)
    torch.testing.assert_close(upmix.random_style(2, 3), upmix.random_style(2, 3))
    # the temperature scales a draw's distance from the prior's mean, which temperature 0 returns
    offset = upmix.random_style(2, 4) - upmix.prior_mean
    torch.testing.assert_close(upmix.random_style(2, 4, 0.5) - upmix.prior_mean, 0.5 * offset)
    torch.testing.assert_close(upmix.random_style(2, 9, 0.0), upmix.prior_mean.expand(2, -1))


def test_the_stereo_trainer_fits_the_prior_it_validates_and_exports() -> None:
    crops = LatentCrops(TINY_BWE.rates)
    trainer = StereoTrainer(TINY_STEREO, CONFIG, CPU, crops, crops)
    trainer.step(0)
    exported = trainer.exported()
    mean, _ = exported.style(crops.crop["full"].reshape(1, -1, crops.crop["full"].shape[-1]))
    # every fake crop is the same, so the prior is centred on its style
    torch.testing.assert_close(exported.prior_mean, mean[0], atol=1e-4, rtol=1e-3)
    assert exported.prior_mean.abs().sum() > 0
    before = exported.prior_mean.clone()
    trainer.step(1)
    trainer.validate()  # refitted to the moved style encoder
    assert not torch.equal(exported.prior_mean, before)


def test_ema_update_follows_its_warm_up_then_its_decay() -> None:
    average, model = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        average.weight.fill_(0.0)
        model.weight.fill_(1.0)
    ema_update(average, model, 0.9, step=0)  # min(0.9, 1/10): moves 90% of the way
    assert float(average.weight.detach()) == pytest.approx(0.9)
    ema_update(average, model, 0.9, step=1000)  # the decay: 10% of what is left
    assert float(average.weight.detach()) == pytest.approx(0.91)


def test_warmup_ramps_each_optimiser_from_its_own_start() -> None:
    crops = LatentCrops(TINY_BWE.rates)
    config = replace(CONFIG, warmup=10, disc_start=5)
    trainer = BWETrainer(TINY_BWE, config, CPU, crops, crops)
    lrs = {}
    for step in (0, 7, 20):
        trainer.step(step)
        lrs[step] = {name: opt.param_groups[0]["lr"] for name, opt in trainer.optimizers.items()}
    assert lrs[0]["model"] == pytest.approx(config.lr / 10)
    assert lrs[7] == pytest.approx({"model": config.lr * 0.8, "disc": config.disc_lr * 0.3})
    assert lrs[20] == pytest.approx({"model": config.lr, "disc": config.disc_lr})


@dataclass(frozen=True)
class CPUAutocast(Runtime):
    """CUDA's bf16 autocast on the CPU: the dtypes of the GPU path, without a GPU."""

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        return torch.autocast("cpu", dtype=torch.bfloat16)


def test_every_trainer_steps_and_validates_under_bf16_autocast() -> None:
    bf16 = CPUAutocast(torch.device("cpu"))
    config = AETrainConfig(batch=2, crop=8192, disc_crop=4096, warmup=1, gan_start=0)
    ae = AutoencoderTrainer(TINY_AE, config, bf16, Crops(2, 8192), Crops(1, 4096).wav)
    logs = [ae.step(0), ae.validate()]
    crops = LatentCrops(TINY_BWE.rates)
    for trainer_cls, model_config in ((BWETrainer, TINY_BWE), (FlowTrainer, TINY_FLOW), (StereoTrainer, TINY_STEREO)):
        trainer = trainer_cls(model_config, CONFIG, bf16, crops, crops)
        logs += [trainer.step(0), trainer.validate()]
    assert {"disc", "adv", "fm"} <= set(logs[0]) and all(np.isfinite(float(v)) for log in logs for v in log.values())


def test_discriminator_terms_reach_the_generator_gradient() -> None:
    crops = LatentCrops(TINY_BWE.rates)
    trainer = BWETrainer(TINY_BWE, replace(CONFIG, l1_weight=0.0), CPU, crops, crops)
    batch = trainer.collate(crops.sample(4))
    losses = trainer.loss(batch, step=0)  # updates the discriminator once, then the generator's loss
    assert {"adv", "fm", "disc"} <= set(losses)
    trainer.model.zero_grad()
    losses["loss"].backward()  # l1 weight 0: any gradient comes from the adversarial and feature terms
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    l1_only = BWETrainer(TINY_BWE, replace(CONFIG, adv_weight=0.0, fm_weight=0.0), CPU, crops, crops)
    assert l1_only.disc is None and "adv" not in l1_only.loss(batch, step=0)


def test_kl_term_reaches_the_style_encoder_gradient() -> None:
    crops = LatentCrops(TINY_BWE.rates)
    trainer = StereoTrainer(TINY_STEREO, CONFIG, CPU, crops, crops)
    batch = trainer.collate(crops.sample(4))
    losses = trainer.loss(batch, step=0)
    style = trainer.model.model.style  # the trained weights (exported() is their average)
    kl_grad = torch.autograd.grad(losses["kl"], list(style.parameters()), allow_unused=True, retain_graph=True)
    assert sum(float(g.abs().sum()) for g in kl_grad if g is not None) > 0
    total = torch.autograd.grad(losses["loss"] - losses["l1"], list(style.parameters()), allow_unused=True)
    assert sum(float(g.abs().sum()) for g in total if g is not None) > 0  # the KL is in the training loss


@pytest.mark.parametrize("frames", [1, 7, 33])
def test_latent_module_shapes_for_odd_frames_and_batch_one(frames: int) -> None:
    from reencoder_cli.models.bwe import LatentBWE
    from reencoder_cli.models.flow import LatentFlow
    from reencoder_cli.models.stereo import LatentUpmix

    z = torch.randn(1, 16, frames)
    bwe = LatentBWE(TINY_BWE)
    assert bwe(z, bwe.rate_tensor(22050, 1)).shape == (1, 16, frames)
    flow = LatentFlow(TINY_FLOW)
    assert flow.sample(z, torch.zeros(1, dtype=torch.long), torch.randn_like(z), 3).shape == (1, 16, frames)
    upmix = LatentUpmix(TINY_STEREO)
    assert upmix(z, upmix.random_style(1, 0)).shape == (1, 32, frames)
    assert upmix.style(torch.randn(1, 32, frames))[0].shape == (1, TINY_STEREO.style_dim)


def test_latent_modules_follow_the_input_level_frame_by_frame() -> None:
    """module(g z) = g module(z) for any positive per-frame gain g: a quiet passage gets a quiet output."""
    from reencoder_cli.models.bwe import LatentBWE
    from reencoder_cli.models.flow import LatentFlow
    from reencoder_cli.models.stereo import LatentUpmix

    torch.manual_seed(0)
    z, noise = torch.randn(2, 16, 40), torch.randn(2, 16, 40)
    gain = torch.logspace(-3, 1, 40).view(1, 1, 40)  # -60 dB .. +20 dB along the clip
    models = [LatentBWE(TINY_BWE), LatentFlow(TINY_FLOW), LatentUpmix(TINY_STEREO)]
    for model in models:  # random weights everywhere: zero-initialised output layers would make this trivial
        for p in model.parameters():
            p.data.normal_(0.0, 0.2)
    bwe, flow, upmix = models
    rate, style = bwe.rate_tensor(22050, 2), upmix.random_style(2, 0)
    runs = {
        "bwe": lambda x: bwe(x, rate),
        "flow": lambda x: flow.sample(x, rate, noise, 2),
        "upmix": lambda x: upmix(x, style),
    }
    for name, run in runs.items():
        out = run(z)
        assert not torch.allclose(out[:, :16], z, atol=1e-2), name  # the module does change its input
        torch.testing.assert_close(run(gain * z) / gain, out, rtol=1e-4, atol=1e-5, msg=name)
    lr = torch.randn(2, 32, 40)
    torch.testing.assert_close(upmix.style(gain * lr)[0], upmix.style(lr)[0], rtol=1e-4, atol=1e-5)


def test_latent_cache_subset_is_capped_per_split_and_nested() -> None:
    from reencoder_cli.data.latents import select
    from reencoder_cli.data.music import Track

    tracks = [
        Track(src, f"t{i}", f"{src}/t{i}.npy", 600.0, split) for src in "ab" for i in range(10) for split in ["train"]
    ]
    tracks += [Track("a", f"v{i}", f"a/v{i}.npy", 600.0, "valid") for i in range(4)]
    small, large = select(tracks, 0.5), select(tracks, 1.0)
    assert [sum(t.split == s for t in small) for s in ("train", "valid")] == [3, 3]
    assert {t.source for t in large if t.split == "train"} == {"a", "b"}
    assert set(small) <= set(large)
    assert set(select(tracks, float("inf"))) == set(tracks)


def test_latent_cache_resumes_per_latent_space(weights_env: Path, tmp_path: Path) -> None:
    from reencoder_cli.data.latents import build
    from reencoder_cli.data.music import Track, write_manifest

    data, root = tmp_path / "music", tmp_path / "latents"
    (data / "a").mkdir(parents=True)
    np.save(data / "a" / "t.npy", (music(2.0, 44100, channels=2).T * 16384).astype(np.int16))
    write_manifest(data, [Track("a", "t", "a/t.npy", 2.0, "train")])
    tuned, other = retuned_autoencoders(weights_env, tmp_path)
    encoded: list[str] = []
    for autoencoder, expected in [("autoencoder", 1), ("autoencoder", 1), (tuned, 1), (other, 2)]:
        build(data, root, autoencoder, encoded.append, rates=(22050,), device="cpu")
        assert len(encoded) == expected, autoencoder  # encoded again only in another latent space


def test_data_list_names_the_tracks_of_a_music_or_latent_cache(weights_env: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reencoder_cli.cli import app
    from reencoder_cli.data.latents import build
    from reencoder_cli.data.music import Track, write_manifest

    data, root = tmp_path / "music", tmp_path / "latents"
    tracks = [Track("a", "t", "a/t.npy", 2.0, "train"), Track("b", "v", "b/v.npy", 1.5, "valid")]
    for t in tracks:
        (data / t.source).mkdir(parents=True)
        np.save(data / t.path, (music(t.seconds, 44100, channels=2).T * 16384).astype(np.int16))
    write_manifest(data, tracks)
    build(data, root, "autoencoder", print, rates=(22050,), device="cpu", hours=1.0)
    expected = "split,source,name,seconds\ntrain,a,t,2.0\nvalid,b,v,1.5\n"
    for folder in (data, root):
        result = CliRunner().invoke(app, ["data", "list", str(folder)])
        assert (result.exit_code, result.stdout) == (0, expected), result.output
    result = CliRunner().invoke(app, ["data", "list", str(tmp_path)])
    assert result.exit_code == 1 and "neither a music cache" in result.output


@pytest.mark.parametrize("rate", [8000, 11025, 12000, 16000, 22050, 24000])
def test_raw_degrade_keeps_the_crop_length(rate: int) -> None:
    from reencoder_cli.train.raw import degrade

    assert degrade(np.random.default_rng(0).standard_normal(16384).astype(np.float32), rate).shape == (16384,)


def test_autoencoder_validation_scores_noisy_latents_reproducibly() -> None:
    config = AETrainConfig(batch=2, crop=8192, disc_crop=4096, warmup=1)
    trainer = AutoencoderTrainer(TINY_AE, config, CPU, Crops(2, 8192), Crops(2, 4096).wav)
    first, again = trainer.validate(), trainer.validate()
    assert first == again
    assert np.isfinite(first["noisy_mel"]) and first["noisy_mel"] != pytest.approx(first["mel"], rel=1e-4)


def test_a_resumed_fine_tune_keeps_the_origin_it_started_from(tmp_path: Path) -> None:
    """Shipping a fine-tune's export and resuming the run must not record that export as its origin."""
    import soundfile as sf

    from reencoder_cli.data.music import Track, write_manifest
    from reencoder_cli.data.pack import unpack
    from reencoder_cli.io.modelfile import read_meta, sha256_file
    from reencoder_cli.train.autoencoder import train
    from reencoder_cli.train.loop import Schedule

    tracks = []
    for i, (name, split) in enumerate([("a", "train"), ("b", "valid")]):
        (tmp_path / "pack" / "src").mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / "pack" / "src" / f"{name}.flac", music(4.0, seed=i)[0], 44100)
        tracks.append(Track("src", name, f"src/{name}.flac", 4.0, split))
    write_manifest(tmp_path / "pack", tracks)
    unpack(tmp_path / "pack", tmp_path / "cache", log=lambda _: None, workers=1)
    torch.manual_seed(0)
    shipped = tmp_path / "autoencoder.safetensors"
    save_model(shipped, Autoencoder(TINY_AE), "autoencoder", TINY_AE, train={"steps": 42})
    origin = sha256_file(shipped)
    recipe = dict(model_config=TINY_AE, config=AETrainConfig(batch=2, crop=8192, decoder_only=True), log=lambda _: None)
    out = train(tmp_path / "cache", tmp_path / "run", schedule=Schedule(max_steps=2), init=str(shipped), **recipe)
    shipped.write_bytes(out.read_bytes())  # the first leg ships; the run goes on
    train(tmp_path / "cache", tmp_path / "run", schedule=Schedule(max_steps=4), init=str(shipped), **recipe)
    meta = read_meta(out)
    assert meta.train["steps"] == 4 and meta.train["init"]["sha256"] == origin and meta.train["init"]["steps"] == 42
