"""The autoencoder contract (DESIGN.md): shapes, lengths, ISTFT exactness, weights round trip."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import TINY_AE, randomize

from reencoder_cli.io.modelfile import save_model
from reencoder_cli.io.weights import load_model
from reencoder_cli.models.autoencoder import ENCODER_PARTS, Autoencoder
from reencoder_cli.models.registry import model_factories


@pytest.fixture(scope="module")
def ae() -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(TINY_AE).eval()


VARIANTS = {  # every architecture option the config offers
    "complex front end": replace(TINY_AE, front_end="complex"),
    "spectral front end": replace(TINY_AE, front_end="spectral"),
    "plain": replace(TINY_AE, gain_shape=False),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("length", [1, 1023, 1024, 1025, 44100 + 7])
@pytest.mark.parametrize("batch", [1, 3])
def test_encode_decode_shapes(variant: str, length: int, batch: int) -> None:
    ae = Autoencoder(VARIANTS[variant]).eval()
    wav = torch.randn(batch, length)
    z = ae.encode(wav)
    frames = math.ceil(length / ae.hop)
    assert z.shape == (batch, ae.latent_dim, frames)
    assert ae.decode(z).shape == (batch, frames * ae.hop)
    assert ae(wav).shape == (batch, length)


@pytest.mark.parametrize("variant", VARIANTS)
def test_chunks_with_context_give_the_whole_signal(variant: str) -> None:
    """``context_frames`` is enough: a middle chunk encoded and decoded with it matches one pass."""
    torch.manual_seed(0)
    ae = randomize(Autoencoder(VARIANTS[variant]), 0).eval()
    wav = 0.1 * torch.randn(1, 60 * ae.hop)
    y = ae.decode(ae.encode(wav))
    lo, hi, c = 25, 35, ae.context_frames
    y_part = ae.decode(ae.encode(wav[:, (lo - c) * ae.hop : (hi + c) * ae.hop]))
    assert torch.allclose(y_part[:, c * ae.hop : (c + hi - lo) * ae.hop], y[:, lo * ae.hop : hi * ae.hop], atol=1e-5)


def test_contract_attributes(ae: Autoencoder) -> None:
    assert (ae.sample_rate, ae.hop) == (44100, 1024)
    assert Autoencoder().latent_dim == 64


def test_istft_inverts_the_stft(ae: Autoencoder) -> None:
    c = ae.config
    wav = torch.randn(2, 16 * c.stft_hop)
    pad = (c.n_fft - c.stft_hop) // 2
    spec = torch.stft(
        torch.nn.functional.pad(wav, (pad, pad)),
        c.n_fft,
        c.stft_hop,
        window=ae.window,
        center=False,
        return_complex=True,
    )
    assert torch.allclose(ae.istft(spec.transpose(1, 2)), wav, atol=1e-5)


def test_posterior_is_variational_in_gain_shape_form(ae: Autoencoder) -> None:
    x = torch.randn(1, 5000)
    mean, logvar, level = ae.posterior(x)
    assert mean.shape == logvar.shape and level.shape == (1, 1, mean.shape[-1])
    assert torch.equal(ae.encode(x), level * mean)
    # level: the frame RMS over level_ref (x has RMS 1; the last frame is partly padding)
    assert torch.allclose(level[0, 0, 1:-2], torch.tensor(1 / ae.config.level_ref), rtol=0.1)


@pytest.mark.parametrize("gain", [0.25, 2.0, 7.0])
def test_encoder_is_homogeneous(ae: Autoencoder, gain: float) -> None:
    x = 0.1 * torch.randn(2, 5000)
    z = ae.encode(x)
    assert (ae.encode(gain * x) - gain * z).abs().max() <= 1e-5 * (gain * z).abs().max()


@pytest.mark.parametrize("gain", [0.25, 0.5, 2.0, 7.0])
def test_decoder_is_exactly_homogeneous(ae: Autoencoder, gain: float) -> None:
    z = ae.encode(torch.randn(2, 5000))
    y = gain * ae.decode(z)
    assert (ae.decode(gain * z) - y).abs().max() <= 1e-5 * y.abs().max()


def test_weights_round_trip(ae: Autoencoder, tmp_path: Path) -> None:
    path = tmp_path / "ae.safetensors"
    save_model(path, ae, "autoencoder", TINY_AE)
    loaded, meta = load_model(str(path), model_factories(), expect_arch="autoencoder")
    wav = torch.randn(1, 3000)
    assert meta.config == {k: v for k, v in TINY_AE.__dict__.items()}
    assert torch.equal(loaded(wav), ae(wav))


def test_latent_space_names_the_encoder_only(ae: Autoencoder, tmp_path: Path) -> None:
    space = ae.latent_space()
    save_model(tmp_path / "ae.safetensors", ae, "autoencoder", TINY_AE)
    loaded, _ = load_model(str(tmp_path / "ae.safetensors"), model_factories())
    assert loaded.latent_space() == space  # through the float16 file
    other = Autoencoder(replace(TINY_AE, dec_dim=48))  # another decoder, the same encoder
    for part in ENCODER_PARTS:
        getattr(other, part).load_state_dict(getattr(ae, part).state_dict())
    assert other.latent_space() == space
    weight = other.encoder.proj_in.weight
    with torch.no_grad():
        weight[0, 0] = 0.0
        zero = other.latent_space()
        weight[0, 0] = -0.0  # EMA arithmetic can flip a zero's sign: the encoder is the same
        assert other.latent_space() == zero != space
    torch.manual_seed(3)
    a = Autoencoder(TINY_AE)
    torch.manual_seed(3)
    b = Autoencoder(replace(TINY_AE, compress=0.5))  # the same weights on other features
    assert a.latent_space() != b.latent_space()


def test_a_file_older_than_a_field_loads_with_the_value_it_meant(tmp_path: Path) -> None:
    """Autoencoder v1's files predate ``front_end`` and the others: they load as v1, latent space unchanged."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from reencoder_cli.models.autoencoder import AutoencoderConfig

    v1 = replace(TINY_AE, **AutoencoderConfig.BEFORE)  # type: ignore[arg-type]
    torch.manual_seed(0)
    ae = Autoencoder(v1).eval()
    save_model(tmp_path / "new.safetensors", ae, "autoencoder", v1)
    with safe_open(str(tmp_path / "new.safetensors"), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    config = {k: v for k, v in json.loads(meta["config"]).items() if k not in AutoencoderConfig.BEFORE}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=meta | {"config": json.dumps(config)})
    loaded, _ = load_model(str(tmp_path / "old.safetensors"), model_factories())
    assert AutoencoderConfig().front_end != "complex"  # today's default is another front end
    assert loaded.config == v1 and loaded.latent_space() == ae.latent_space()
    wav = torch.randn(1, 3000)
    assert torch.equal(loaded(wav), ae(wav))
