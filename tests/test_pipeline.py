"""Encode once / decode once: chunking exactness, lengths, post-steps, latent files, ops."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import music, retuned_autoencoders

from reencoder_cli.engine.ops import make_op, parse_op
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.errors import LatentFileError, UsageError, WeightsError
from reencoder_cli.io.audio import SourceMeta
from reencoder_cli.io.latentfile import Latent, load_latent, save_latent
from reencoder_cli.io.modelfile import AEId

CHUNK_TOLERANCE = 1e-5  # max |chunked - unchunked| on a signal of peak 0.3 (float32 rounding)


@pytest.fixture
def pipes(weights_env: Path) -> tuple[Pipeline, Pipeline]:
    """The same models with one chunk for everything and with 1-second chunks."""
    return Pipeline(device="cpu", chunk_seconds=1000), Pipeline(device="cpu", chunk_seconds=1.0)


@pytest.mark.parametrize(
    "ops",
    [
        ["upsample"],
        ["upmix:seed=3"],
        ["upsample:model=flow-s,steps=2,seed=5"],
        ["upsample", "upmix:seed=1"],
        ["gain:db=-6", "upsample"],
    ],
)
def test_chunked_equals_unchunked(pipes: tuple[Pipeline, Pipeline], ops: list[str]) -> None:
    whole, chunked = pipes
    x = music(6.3, 22050, channels=2)
    a = whole.run(x, 22050, ops, keep_lowband=False, keep_mid=False).wav
    b = chunked.run(x, 22050, ops, keep_lowband=False, keep_mid=False).wav
    assert a.shape == b.shape
    assert np.abs(a - b).max() < CHUNK_TOLERANCE
    # no click at chunk boundaries: the sample-to-sample step there is like anywhere else
    boundary = np.arange(1, 6) * chunked.chunk_frames * 1024
    steps = np.abs(np.diff(b, axis=-1))
    assert steps[:, boundary - 1].max() <= steps.max()


@pytest.mark.parametrize(
    "ops,rate",
    [
        (["upsample"], 8000),
        (["upsample"], 22050),
        (["upsample:rate=8000"], 44100),
        (["upmix:seed=2"], 44100),
        (["upmix:seed=2,side=decoded"], 44100),
        (["upsample", "upmix:seed=2"], 16000),
    ],
)
def test_chunked_equals_unchunked_with_post_steps(pipes: tuple[Pipeline, Pipeline], ops: list[str], rate: int) -> None:
    """The crossover and the mid replacement see every sample they need across chunk boundaries."""
    whole, chunked = pipes
    x = music(4.2, rate, channels=2)
    a, b = whole.run(x, rate, ops), chunked.run(x, rate, ops)
    assert a.post_steps == b.post_steps and a.post_steps
    assert np.abs(a.wav - b.wav).max() < CHUNK_TOLERANCE


@pytest.mark.parametrize("rate,length,channels", [(8000, 8001, 1), (22050, 1, 2), (44100, 44100, 2), (48000, 4799, 1)])
def test_output_length_and_channels(weights_env: Path, rate: int, length: int, channels: int) -> None:
    pipe = Pipeline(device="cpu")
    x = np.random.default_rng(0).standard_normal((channels, length)).astype(np.float32) * 0.1
    expected = max(1, int(length * 44100 / rate + 0.5))
    out = pipe.run(x, rate, ["gain:db=0"]).wav
    assert out.shape == (channels, expected)
    assert pipe.run(x, rate, ["upmix:seed=0"]).wav.shape == (2, expected)


def test_gain_zero_db_is_identity_and_gain_scales(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    latent = pipe.encode(music(1.0, 44100), 44100)
    assert torch.equal(pipe.apply(latent, ["gain:db=0"]).z, latent.z)
    assert torch.allclose(pipe.apply(latent, ["gain:db=-6.0206"]).z, latent.z / 2, atol=1e-5)


def test_keep_lowband_keeps_the_input_below_nyquist(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    x = music(3.0, 22050, channels=2)
    out = pipe.run(x, 22050, ["upsample"]).wav
    raw = pipe.run(x, 22050, ["upsample"], keep_lowband=False).wav
    from reencoder_cli.io.audio import resample

    ref = resample(x, 22050, 44100)
    spec = lambda s: np.abs(np.fft.rfft(s[:, 4096:-4096], axis=-1))  # noqa: E731
    freqs = np.fft.rfftfreq(ref.shape[-1] - 8192, 1 / 44100)
    low = freqs < 9000
    err_kept = np.abs(spec(out) - spec(ref))[:, low].max() / spec(ref)[:, low].max()
    err_raw = np.abs(spec(raw) - spec(ref))[:, low].max() / spec(ref)[:, low].max()
    assert err_kept < 1e-3 < err_raw
    high = freqs > 12000
    assert np.allclose(spec(out)[:, high], spec(raw)[:, high], rtol=0.05, atol=1e-2 * spec(raw)[:, high].max())


@pytest.mark.parametrize("side", ["parametric", "decoded"])
def test_keep_mid_makes_the_mid_the_input(weights_env: Path, side: str) -> None:
    pipe = Pipeline(device="cpu")
    mono = music(2.0, 44100)
    result = pipe.run(mono, 44100, [f"upmix:seed=4,side={side}"])
    out = result.wav
    assert out.shape == (2, mono.shape[-1])
    assert np.abs((out[0] + out[1]) / 2 - mono[0]).max() < 1e-6
    assert np.abs(out[0] - out[1]).max() > 1e-4  # it is not dual mono
    assert result.post_steps == (("keep_mid", "parametric side") if side == "parametric" else ("keep_mid",))


def test_min_side_sets_the_parametric_side_floor(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    mono = music(2.0, 44100)
    levels = {}
    for floor in ("-inf", "-10", "0"):
        out = pipe.run(mono, 44100, [f"upmix:seed=4,min_side={floor}"]).wav[:, 4096:-4096]
        levels[floor] = 10 * np.log10(np.sum((out[0] - out[1]) ** 2) / np.sum((out[0] + out[1]) ** 2))
    assert levels["-inf"] <= levels["-10"] + 1e-3 < levels["0"] - 3 and levels["-10"] > -10.5
    assert abs(levels["0"]) < 0.5  # a 0 dB floor: side as loud as the mid in every band


def test_upmix_seed_reproducible_and_different(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    mono = music(2.0, 44100)
    a, b, c = (pipe.run(mono, 44100, [f"upmix:seed={s}"], keep_mid=False).wav for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_latent_file_round_trip(weights_env: Path, tmp_path: Path) -> None:
    pipe = Pipeline(device="cpu")
    latent = replace(
        pipe.encode(music(1.5, 32000, channels=2), 32000), meta=SourceMeta("PCM_24", (("title", "Song \u00e9"),))
    )
    save_latent(tmp_path / "x.latent", latent)
    loaded = load_latent(tmp_path / "x.latent")
    assert torch.equal(loaded.z, latent.z) and loaded.meta == latent.meta
    assert (loaded.length, loaded.source_rate, loaded.autoencoder, loaded.channels) == (
        latent.length,
        32000,
        pipe.ae_id,
        2,
    )
    assert np.array_equal(pipe.decode(loaded), pipe.decode(latent))


def test_latent_of_another_autoencoder_is_refused(weights_env: Path, tmp_path: Path) -> None:
    pipe = Pipeline(device="cpu")
    other = Latent(torch.zeros(1, 16, 3), 3000, 44100, AEId("someone-else", "0" * 64))
    with pytest.raises(LatentFileError, match="another|encoded by"):
        pipe.decode(other)
    (tmp_path / "bad.latent").write_bytes(b"not a latent")
    with pytest.raises(LatentFileError, match="bad.latent"):
        load_latent(tmp_path / "bad.latent")


def test_a_decoder_fine_tune_keeps_latent_files_and_modules(weights_env: Path, tmp_path: Path) -> None:
    pipe = Pipeline(device="cpu")
    tuned, other_encoder = retuned_autoencoders(weights_env, tmp_path)
    retuned = Pipeline(autoencoder=tuned, device="cpu")
    assert retuned.ae_id.sha256 != pipe.ae_id.sha256 and retuned.ae_id.latent_space == pipe.ae_id.latent_space
    latent = pipe.encode(music(1.0, 44100), 44100)
    assert not np.allclose(retuned.decode(latent), pipe.decode(latent), atol=1e-3)  # the tuned decoder plays it
    retuned.module("bwe-s", ("bwe",))  # trained on the first file's latents: still valid
    other = Pipeline(autoencoder=other_encoder, device="cpu")
    with pytest.raises(LatentFileError, match="another latent space"):
        other.decode(latent)
    with pytest.raises(WeightsError, match="another latent space"):
        other.module("bwe-s", ("bwe",))


def test_model_shas_name_only_what_the_ops_ran(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    latent = pipe.apply(pipe.encode(music(1.0, 16000), 16000), ["upsample", "gain:db=-3"])
    pipe.module("flow-s", ("flow",))  # loaded, not run
    assert latent.ops == ("upsample:rate=16000", "gain:db=-3.0")  # the default model goes unnamed, as upmix's
    assert set(pipe.model_shas(latent.ops)) == {"autoencoder", "bwe-s-l1"}
    assert set(pipe.model_shas(["frobnicate:x=1", *latent.ops])) == {"autoencoder", "bwe-s-l1"}  # another version's op


def test_mix_op_adds_latents(weights_env: Path, tmp_path: Path) -> None:
    import soundfile as sf

    pipe = Pipeline(device="cpu")
    a, b = music(1.0, 44100, seed=1), music(1.5, 44100, seed=2)
    sf.write(tmp_path / "b.wav", b[0], 44100, subtype="FLOAT")
    la = pipe.encode(a, 44100)
    mixed = pipe.apply(la, [f"mix:with={tmp_path / 'b.wav'},weight=0.5"])
    zb = pipe.encode(b, 44100).z
    assert mixed.length == b.shape[-1]
    assert torch.allclose(mixed.z[..., : la.z.shape[-1]], la.z + 0.5 * zb[..., : la.z.shape[-1]], atol=1e-5)


@pytest.mark.parametrize(
    "text,match",
    [
        ("nope", "unknown op"),
        ("gain:db=loud", "not a valid float"),
        ("gain:db=100", "outside"),
        ("upsample:foo=1", "bad parameter"),
        ("upmix:style_mix=0.5", "needs width_from"),  # refused when parsed, before any model loads
        ("upmix:style_mix=0.5,width_from=ref.wav", None),
        ("upmix:style_mix=0", None),  # a random style asks for no reference
    ],
)
def test_op_parsing(text: str, match: str | None) -> None:
    if match is None:
        assert parse_op(text).params["style_mix"] == float(text.split("style_mix=")[1].split(",")[0])
    else:
        with pytest.raises(UsageError, match=match):
            parse_op(text)


def test_op_names_the_models_it_may_load() -> None:
    assert parse_op("upsample").models() == ("bwe-s-l1",)
    assert parse_op("upsample:model=bwe-m").models() == ("bwe-m",)
    assert parse_op("upmix").models() == ("stereo-s",) and parse_op("gain:db=3").models() == ()


def test_make_op_checks_python_values_as_parse_op_checks_text() -> None:
    assert make_op("upsample", rate=None, steps=None) == parse_op("upsample")  # None: the defaults
    assert make_op("upsample", rate=16000, steps=4) == parse_op("upsample:rate=16000,steps=4")
    spec = make_op("upmix", width_from="take 2, final=yes.wav", style_mix=0.5)  # no k=v splitting
    assert spec.params["width_from"] == "take 2, final=yes.wav" and spec.params["style_mix"] == 0.5
    for bad, message in (
        ({"steps": 0}, "outside"),
        ({"steps": "two"}, "not a valid int"),
        ({"width": 1}, "no parameter 'width'"),
    ):
        with pytest.raises(UsageError, match=message):
            make_op("upsample" if "width" not in bad else "upmix", **bad)
    with pytest.raises(UsageError, match="needs width_from"):  # the op's own check
        make_op("upmix", style_mix=0.5)


def test_upsample_refuses_full_rate_input_without_from_rate(weights_env: Path) -> None:
    pipe = Pipeline(device="cpu")
    x = music(1.0, 44100)
    with pytest.raises(UsageError, match="no band to extend"):  # detected: nothing cut
        pipe.run(x, 44100, ["upsample"])
    with pytest.raises(UsageError, match="already 44100"):
        pipe.run(x, 44100, ["upsample:rate=0"])
    assert pipe.run(x, 44100, ["upsample:rate=16000"]).wav.shape == x.shape


def test_reference_width_is_measured_on_the_file_at_any_rate(weights_env: Path, tmp_path: Path) -> None:
    """A 22.05 kHz reference is measured as the whole file at 44.1 kHz would be (streamed
    through the resampler, a short last block included); a mono one is refused."""
    import soundfile as sf

    from reencoder_cli.dsp import post
    from reencoder_cli.io import audio

    mid, side = music(2.3, 22050, seed=3, top_hz=11000), music(2.3, 22050, seed=4, top_hz=11000)
    stereo = post.from_mid_side(mid, 10 ** (-12 / 20) * side)
    sf.write(tmp_path / "ref.wav", stereo.T, 22050, subtype="FLOAT")
    sf.write(tmp_path / "mono.wav", mid.T, 22050)
    pipe = Pipeline(device="cpu")
    width = pipe.reference_width([parse_op(f"upmix:width_from={tmp_path / 'ref.wav'}")])
    powers = post.band_powers(audio.resample(stereo, 22050, 44100))
    heard = powers[0] > 1e-2 * powers[0].max()  # not the resamplers' transition band, where they differ
    assert width is not None and width.shape == heard.shape and heard.sum() > 10
    expected = post.band_widths(powers)
    assert np.allclose(10 * np.log10(width[heard]), 10 * np.log10(expected[heard]), atol=0.5)
    assert pipe.reference_width([parse_op("upmix:seed=1")]) is None
    with pytest.raises(UsageError, match="is mono"):
        pipe.reference_width([parse_op(f"upmix:width_from={tmp_path / 'mono.wav'}")])


def test_width_from_takes_the_style_the_style_encoder_was_trained_to_give(weights_env: Path, tmp_path: Path) -> None:
    """The op pools the style over chunks of the reference; at any level it is the trained
    encoder's mean (which sees level-normalised latents), so the upmix is the model's with it."""
    import soundfile as sf

    from reencoder_cli.dsp import post
    from reencoder_cli.models.stereo import LatentUpmix

    pipe = Pipeline(device="cpu", chunk_seconds=1.0)
    stereo = 0.05 * post.from_mid_side(music(3.1, 44100, seed=5), 0.3 * music(3.1, 44100, seed=6))
    sf.write(tmp_path / "ref.wav", stereo.T, 44100, subtype="FLOAT")
    mono = pipe.encode(music(2.0, 44100, seed=7), 44100)
    out = pipe.apply(mono, [f"upmix:width_from={tmp_path / 'ref.wav'}"]).z
    model, _ = pipe.module("stereo-s", ("stereo",))
    assert isinstance(model, LatentUpmix)
    ref = pipe.encode(stereo, 44100).z
    with torch.no_grad():
        style = model.style(ref.reshape(1, -1, ref.shape[-1]))[0]
        expected = model(mono.z, style).reshape(2, -1, mono.z.shape[-1])
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
