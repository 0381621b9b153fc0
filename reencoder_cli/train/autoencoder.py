"""Autoencoder training: spectral losses first, then least-squares GAN with feature matching.

Three augmentations shape the latent space without touching the architecture or loss:

- noise robustness (LatentFlowSR): Gaussian noise, up to ``noise_max`` times each frame's
  RMS, perturbs the decoder input's direction (its level is kept);
- homogeneity (Lin-CAE): the decoder input ``g * z`` must decode to ``g * x``;
- additivity (Lin-CAE): the decoder input ``z_a + z_b`` must decode to ``x_a + x_b``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from reencoder_cli.models.autoencoder import ARCH, ENCODER_PARTS, Autoencoder, AutoencoderConfig, noisy_latent
from reencoder_cli.models.discriminators import WaveDiscriminator, WaveDiscriminatorConfig
from reencoder_cli.train.loop import Runtime, Schedule, ema_update, optimizer_step, warmup_lr
from reencoder_cli.train.losses import (
    ReconstructionLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    kl_divergence,
)

if TYPE_CHECKING:
    from reencoder_cli.data.crops import CropSampler, DeviceCrops


# the latent noise (x each frame's RMS) validation decodes with besides the clean latents
VALID_NOISE = 0.1


@dataclass(frozen=True)
class AETrainConfig:
    """Hyper-parameters of autoencoder training (stored with the weights)."""

    crop: int = 32768
    batch: int = 16
    lr: float = 5e-4
    lr_decay: float = 0.999996
    warmup: int = 500
    betas: tuple[float, float] = (0.8, 0.99)
    input_gain_db: tuple[float, float] = (-12.0, 3.0)
    kl_weight: float = 1e-4
    mel_weight: float = 1.0
    stft_weight: float = 1.0
    complex_weight: float = 0.1  # low: an L1 on complex spectra shrinks what it cannot phase-align
    stft_ffts: tuple[int, ...] = ()  # the STFT term (spectral convergence + log-magnitude), v1's (512, 1024, 2048)
    mel_windows: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048, 4096)
    gan_start: int = 8000
    disc_crop: int = 16384
    gan_mel_weight: float = 15.0
    gan_stft_weight: float = 2.0
    adv_weight: float = 2.0
    fm_weight: float = 4.0
    gain_prob: float = 0.25
    gain_range: tuple[float, float] = (0.25, 2.0)
    mix_prob: float = 0.25
    noise_prob: float = 0.0  # latent noise caps what a frame can say: robustness comes after, decoder alone
    noise_max: float = 0.1
    ema: float = 0.995
    grad_clip: float = 100.0
    seed: int = 0
    decoder_only: bool = False  # the encoder frozen: latents, and the latent modules trained on them, stay valid


def augment(
    z: Tensor, wav: Tensor, config: AETrainConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Decoder inputs and targets with gain, mixture and noise augmentations.

    Each item is, with the configured probabilities, scaled by a random gain ``g`` (input
    ``g z``, target ``g x``), or mixed with its neighbour in the batch (input ``z_i + z_j``,
    target ``x_i + x_j``), or left alone; then noise is added to some inputs.

    Args:
        z: latents (B, D, F).
        wav: the waveforms they encode (B, T).
        config: probabilities and ranges.
        generator: RNG on z's device.

    Returns:
        decoder input (B, D, F), target (B, T), and the per-item ``gain``, ``mix`` (0/1) and
        ``noise`` (relative level) used, for tests and logs.
    """
    b = z.shape[0]

    def uniform() -> Tensor:  # (B,) in [0, 1)
        return torch.rand(b, device=z.device, generator=generator)

    r = uniform()
    is_gain = r < config.gain_prob
    is_mix = (r >= config.gain_prob) & (r < config.gain_prob + config.mix_prob)
    lo, hi = math.log(config.gain_range[0]), math.log(config.gain_range[1])
    gain = torch.where(is_gain, torch.exp(lo + (hi - lo) * uniform()), torch.ones(b, device=z.device))
    partner = torch.roll(torch.arange(b, device=z.device), 1)
    mix = is_mix.float()
    z_in = gain[:, None, None] * z + mix[:, None, None] * z[partner]
    target = gain[:, None] * wav + mix[:, None] * wav[partner]
    noisy = uniform() < config.noise_prob
    level = torch.where(noisy, config.noise_max * uniform(), torch.zeros(b, device=z.device))
    z_in = noisy_latent(z_in, level, generator)
    return z_in, target, {"gain": gain, "mix": mix, "noise": level}


class AutoencoderObjective(nn.Module):
    """Encode, sample, augment and decode in one ``forward``, so DDP sees every trained computation."""

    def __init__(self, ae: Autoencoder, config: AETrainConfig) -> None:
        super().__init__()
        self.ae = ae
        self.config = config

    def forward(self, wav: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """wav: (B, T) -> estimate (B, T), its target (B, T), posterior mean and logvar (B, D, F)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.decoder_only):
            mean, logvar, level = self.ae.posterior(wav)
        z = level * (mean + (0.5 * logvar).exp() * torch.randn(mean.shape, device=wav.device, generator=generator))
        z_in, target, _ = augment(z, wav, self.config, generator)
        return self.ae.decode(z_in)[..., : wav.shape[-1]], target, mean, logvar


class AutoencoderTrainer:
    """Implements ``loop.Trainer`` for the autoencoder.

    Args:
        model_config: autoencoder sizes.
        config: training hyper-parameters.
        runtime: device and distribution.
        sampler: draws mono training crops, ``mono(batch) -> (B, T)`` (numpy, or a tensor on the device).
        valid: fixed validation clips (N, T) numpy, mono.
    """

    watch = "mel"

    def __init__(
        self,
        model_config: AutoencoderConfig,
        config: AETrainConfig,
        runtime: Runtime,
        sampler: CropSampler | DeviceCrops,
        valid: np.ndarray,
    ) -> None:
        torch.manual_seed(config.seed)
        self.config, self.model_config, self.runtime = config, model_config, runtime
        self.sampler = sampler
        self.valid = valid
        self.ae = Autoencoder(model_config).to(runtime.device)
        for part in ENCODER_PARTS:
            if getattr(self.ae, part) is not None:
                getattr(self.ae, part).requires_grad_(not config.decoder_only)
        self.objective = runtime.wrap(AutoencoderObjective(self.ae, config))
        self.ema = copy.deepcopy(self.ae).requires_grad_(False)
        self.disc = runtime.wrap(WaveDiscriminator(WaveDiscriminatorConfig()))
        self.spectral = ReconstructionLoss(
            model_config.sample_rate, mel_windows=config.mel_windows, stft_ffts=config.stft_ffts
        ).to(runtime.device)

        def adamw(params: Iterable[nn.Parameter]) -> torch.optim.AdamW:
            return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=1e-2)

        self.modules: dict[str, nn.Module] = {"ae": self.ae, "ema": self.ema, "disc": self.disc}
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "ae": adamw(p for p in self.ae.parameters() if p.requires_grad),
            "disc": adamw(self.disc.parameters()),
        }
        self.generator = torch.Generator(runtime.device).manual_seed(config.seed + runtime.rank)

    def step(self, step: int) -> dict[str, Tensor]:
        """One step: sample, encode, augment, decode, losses (and the discriminator in the GAN phase).

        Returns the losses as detached 0-d tensors: read only when logged, so a GPU is not
        made to wait every step.
        """
        c, dev = self.config, self.runtime.device
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = c.lr * warmup_lr(step, c.warmup, c.lr_decay)
        wav = torch.as_tensor(self.sampler.mono(c.batch), device=dev)
        lo, hi = c.input_gain_db
        wav = wav * 10 ** ((lo + (hi - lo) * torch.rand(c.batch, 1, device=dev, generator=self.generator)) / 20)
        gan = step >= c.gan_start
        with self.runtime.autocast():
            est, target, mean, logvar = self.objective(wav, self.generator)
        est = est.float()
        logs: dict[str, Tensor] = {}
        if gan:
            start = int(torch.randint(0, wav.shape[-1] - c.disc_crop + 1, (1,), generator=self.generator, device=dev))
            real_crop, fake_crop = (x[..., start : start + c.disc_crop] for x in (target, est))
            scores, _ = self.disc(torch.cat([real_crop, fake_crop.detach()]))  # one forward (DDP)
            d_real, d_fake = [x[: c.batch] for x in scores], [x[c.batch :] for x in scores]
            d_loss = discriminator_loss(d_real, d_fake) / len(d_real)
            self._update("disc", d_loss)
            logs["disc"] = d_loss.detach()
        spectral = self.spectral(est, target)
        mel, stft, complex_ = spectral["mel"], spectral["stft"], spectral["complex"]
        kl = kl_divergence(mean.float(), logvar.float())
        mel_w, stft_w = (c.gan_mel_weight, c.gan_stft_weight) if gan else (c.mel_weight, c.stft_weight)
        loss = mel_w * mel + stft_w * stft + c.complex_weight * complex_ + c.kl_weight * kl
        if gan:
            fake, fake_feats = self.disc(fake_crop)
            with torch.no_grad():
                _, real_feats = self.disc(real_crop)
            adv = generator_loss(fake) / len(fake)
            fm = feature_matching_loss(real_feats, fake_feats)
            loss = loss + c.adv_weight * adv + c.fm_weight * fm
            logs |= {"adv": adv.detach(), "fm": fm.detach()}
        self._update("ae", loss)
        ema_update(self.ema, self.ae, c.ema, step)
        return logs | {
            "loss": loss.detach(),
            "mel": mel.detach(),
            "stft": stft.detach(),
            "complex": complex_.detach(),
            "kl": kl.detach(),
        }

    def _update(self, name: str, loss: Tensor) -> None:
        optimizer_step(self.optimizers[name], self.modules[name], loss, self.config.grad_clip)

    def validate(self) -> dict[str, float]:
        """``validation_scores`` of the EMA model."""
        return validation_scores(self.ema.eval(), self.valid, self.runtime.device)

    def initialize(self, weights: str) -> dict[str, object]:
        """Start from shipped or exported autoencoder weights (a name or a path); returns their provenance:
        path, sha256, steps (every step behind them: their run's plus its own origin's) and, when this
        run's architecture adds parts (``ADDED_PARTS``), the parameters that start fresh.

        Raises:
            WeightsError: the weights hold another architecture or other sizes.
        """
        from reencoder_cli.errors import WeightsError
        from reencoder_cli.io.weights import load_model
        from reencoder_cli.models.registry import model_factories

        model, meta = load_model(weights, model_factories(), expect_arch=ARCH)
        assert isinstance(model, Autoencoder)
        changed = {k for k, v in asdict(model.config).items() if getattr(self.model_config, k) != v}
        if not changed <= ADDED_PARTS:
            raise WeightsError(f"{weights}: its autoencoder sizes differ from this run's; cannot start from it")
        fresh: list[str] = []
        for target in (self.ae, self.ema):
            fresh = grow_from(target, model.state_dict())
        steps, origin = meta.train.get("steps"), meta.train.get("init") or {}
        if steps is not None and origin.get("steps") is not None:
            steps += origin["steps"]
        return {"path": str(meta.path), "sha256": meta.sha256, "steps": steps} | ({"fresh": fresh} if fresh else {})

    def export(self, path: Path, train_info: dict[str, object]) -> str:
        """Save the EMA autoencoder as shippable weights (fp16); returns its sha256."""
        from reencoder_cli.io.modelfile import save_model

        info = {"config": asdict(self.config), **train_info}
        return save_model(path, self.ema, ARCH, self.model_config, train=info, dtype=torch.float16)


# config fields whose change adds parts to a trained autoencoder: a run may start from one without them
def validation_set(data: Path) -> np.ndarray:
    """The fixed validation clips of the music cache at ``data``: 3 s from the middle of each
    validation track, mono. -> (N, T) float32."""
    from reencoder_cli.data.crops import validation_clips
    from reencoder_cli.data.music import load_manifest

    return validation_clips(data, load_manifest(data, "valid"), seconds=3.0, per_track=1).mean(axis=1)


@torch.no_grad()
def validation_scores(
    model: Autoencoder, clips: np.ndarray, device: torch.device, noise: float = VALID_NOISE
) -> dict[str, float]:
    """Mean mel-D and STFT-D over ``clips`` (N, T): reconstruction, and mixtures of different
    tracks at random levels (each clip plus the next one at -12..0 dB, fixed).

    ``mel_const`` decodes each latent's time average: if it nears ``mel``, the decoder is
    ignoring how the latent moves (a collapse to an average sound). ``noisy_mel`` decodes the
    latents with ``noise`` x each frame's RMS (seeded): what a latent module's
    imperfect output costs (``--latent-noise`` trades it against ``mel``).
    """
    from reencoder_cli.eval.metrics import mel_distance, stft_distance

    n = len(clips)
    gains = 10 ** (np.random.default_rng(0).uniform(-12.0, 0.0, n) / 20)
    wav = torch.from_numpy(clips).to(device)
    z = torch.cat([model.encode(w) for w in wav.split(8)])
    z_mix = z + torch.from_numpy(gains).to(z)[:, None, None] * z.roll(1, 0)
    flat = z.mean(dim=-1, keepdim=True).expand_as(z)
    noisy = noisy_latent(z, noise, torch.Generator(z.device).manual_seed(0))
    est, mixed, const, est_noisy = (
        torch.cat([model.decode(x) for x in latents.split(8)])[..., : wav.shape[-1]].cpu().numpy()
        for latents in (z, z_mix, flat, noisy)
    )
    ref, ref_mix = clips, clips + gains[:, None].astype(np.float32) * np.roll(clips, 1, axis=0)
    return {
        "mel": float(np.mean([mel_distance(est[i], ref[i]) for i in range(n)])),
        "stft": float(np.mean([stft_distance(est[i], ref[i]) for i in range(n)])),
        "mix_mel": float(np.mean([mel_distance(mixed[i], ref_mix[i]) for i in range(n)])),
        "mel_const": float(np.mean([mel_distance(const[i], ref[i]) for i in range(n)])),
        "noisy_mel": float(np.mean([mel_distance(est_noisy[i], ref[i]) for i in range(n)])),
    }


ADDED_PARTS = frozenset({"front_end", "front_dim"})


def grow_from(target: nn.Module, source: dict[str, Tensor]) -> list[str]:
    """Copy a trained model's tensors into one with added parts; return the names of the target's that start fresh.

    A tensor of the same name and shape is copied; every other target tensor keeps its
    initialisation.
    """
    fresh = []
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            old = source.get(name)
            if old is not None and old.shape == tensor.shape:
                tensor.copy_(old)
            else:
                fresh.append(name)
    return fresh


def train(
    data: Path,
    run_dir: Path,
    *,
    device: str = "auto",
    schedule: Schedule | None = None,
    model_config: AutoencoderConfig = AutoencoderConfig(),
    config: AETrainConfig = AETrainConfig(),
    command: str = "",
    log: Callable[[str], None] = print,
    init: str | None = None,
) -> Path:
    """Train (or resume) the autoencoder on the cache at ``data``; export ``run_dir/autoencoder.safetensors``.

    ``init`` (weights name or path) starts a new run from those weights, with fresh
    optimisers, and is recorded as the run's origin in the exported weights; a run that has
    a checkpoint resumes from it and keeps the origin it recorded when it started.

    Returns:
        The path of the exported weights.
    """
    from reencoder_cli.data.crops import CropSampler, DeviceCrops
    from reencoder_cli.data.music import load_manifest
    from reencoder_cli.io.modelfile import read_meta, short_sha
    from reencoder_cli.train.loop import CHECKPOINT, fit, setup_runtime

    runtime = setup_runtime(device)
    tracks, seed = load_manifest(data, "train"), config.seed + 1000 * runtime.rank
    sampler: CropSampler | DeviceCrops = (  # a GPU holds the music; a CPU reads it from memory-mapped files
        DeviceCrops(data, tracks, config.crop, seed, runtime.device)
        if runtime.device.type == "cuda"
        else CropSampler(data, tracks, config.crop, seed)
    )
    valid = validation_set(data)
    trainer = AutoencoderTrainer(model_config, config, runtime, sampler, valid)
    out = run_dir / "autoencoder.safetensors"
    start: dict[str, object] = {}
    if init is not None and (run_dir / CHECKPOINT).exists() and out.exists():
        # a resumed run keeps the origin it started from: ``init`` may name this run's own shipped export by now
        start["init"] = read_meta(out).train["init"]
    elif init is not None:
        start["init"] = source = trainer.initialize(init)
        fresh = f"; fresh: {', '.join(source['fresh'])}" if source.get("fresh") else ""  # type: ignore[arg-type]
        sha = short_sha(str(source["sha256"]))
        log(f"initialised from {source['path']} (sha256 {sha}, {source['steps']} steps{fresh})")

    def export(step: int) -> None:
        tracks = sorted({t.source for t in load_manifest(data)})
        info = {"command": command, "steps": step, "data": tracks, "valid_clips": len(valid)}
        trainer.export(out, info | start)

    fit(trainer, run_dir, runtime, schedule or Schedule(), export=export, log=log)
    return out
