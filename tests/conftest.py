"""Shared fixtures: tiny random models in a temporary weights folder, generated test audio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from reencoder_cli.io.modelfile import AEId, save_model
from reencoder_cli.io.weights import update_manifest
from reencoder_cli.models.autoencoder import Autoencoder, AutoencoderConfig
from reencoder_cli.models.bwe import BWEConfig, LatentBWE
from reencoder_cli.models.flow import FlowConfig, LatentFlow
from reencoder_cli.models.stereo import LatentUpmix, StereoConfig

D = 16
TINY_AE = AutoencoderConfig(
    latent_dim=D,
    enc_dim=32,
    enc_blocks=1,
    enc_hidden=64,
    dec_dim=32,
    dec_blocks=1,
    dec_hidden=64,
    fine_dim=16,
    fine_blocks=1,
    fine_hidden=32,
    front_dim=16,
)
TINY_BWE = BWEConfig(latent_dim=D, dim=32, blocks=2, hidden=64, cond_dim=8)
TINY_FLOW = FlowConfig(latent_dim=D, dim=32, blocks=2, hidden=64, cond_dim=8)
TINY_STEREO = StereoConfig(latent_dim=D, style_dim=8, dim=32, blocks=2, hidden=64, style_width=16)


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give zero-initialised parameters (AdaLN, GRN) random values so every path matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().max() == 0:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def make_weights(folder: Path) -> Path:
    """Write a tiny random autoencoder and modules trained 'on' it, plus the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    autoencoder = Autoencoder(TINY_AE)
    sha = save_model(folder / "autoencoder.safetensors", autoencoder, "autoencoder", TINY_AE)
    ae = AEId("autoencoder", sha, autoencoder.latent_space())
    torch.manual_seed(1)
    for name in ("bwe-s", "bwe-s-l1"):
        save_model(folder / f"{name}.safetensors", randomize(LatentBWE(TINY_BWE), 1), "bwe", TINY_BWE, autoencoder=ae)
    save_model(folder / "flow-s.safetensors", randomize(LatentFlow(TINY_FLOW), 2), "flow", TINY_FLOW, autoencoder=ae)
    save_model(
        folder / "stereo-s.safetensors", randomize(LatentUpmix(TINY_STEREO), 3), "stereo", TINY_STEREO, autoencoder=ae
    )
    update_manifest(folder)
    return folder


def retuned_autoencoders(weights: Path, folder: Path) -> tuple[str, str]:
    """Copies of ``weights``' autoencoder with another decoder (same latent space) and with
    another encoder too (another latent space), saved in ``folder``; returns their paths."""
    ae = Autoencoder(TINY_AE)
    ae.load_state_dict(load_file(str(weights / "autoencoder.safetensors")))
    tuned, other = str(folder / "tuned.safetensors"), str(folder / "other.safetensors")
    with torch.no_grad():
        ae.decoder.proj_out.bias.add_(0.5)
        save_model(tuned, ae, "autoencoder", TINY_AE)
        ae.encoder.proj_out.bias.add_(0.5)
        save_model(other, ae, "autoencoder", TINY_AE)
    return tuned, other


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread for every test: small STFTs crawl with two on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with tiny random models (made once per test session)."""
    return make_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def weights_env(tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the library (and CLI subprocesses) at the tiny weights, offline."""
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(tiny_weights))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tiny_weights


def music(
    seconds: float, sample_rate: int = 44100, channels: int = 1, seed: int = 0, top_hz: float | None = None
) -> np.ndarray:
    """A music-like test signal: decaying harmonic notes plus a little noise. -> (C, T) float32.

    Each note has 11 partials, or with ``top_hz`` every partial below it (a full-band signal
    for the band-extension tests).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    out = np.zeros((channels, t.size))
    for start in np.arange(0, seconds, 0.25):
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        env = np.where(t >= start, np.exp(-(t - start) * 4), 0)
        pan = rng.uniform(0.2, 0.8)
        for k in range(1, 12 if top_hz is None else int(top_hz // f0) + 1):
            if f0 * k < sample_rate / 2:
                tone = env * np.sin(2 * np.pi * f0 * k * t) / k
                out[0] += tone * (pan if channels == 2 else 1)
                if channels == 2:
                    out[1] += tone * (1 - pan)
    out += 0.003 * rng.standard_normal(out.shape)
    return (0.3 * out / np.abs(out).max()).astype(np.float32)
