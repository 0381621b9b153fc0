"""Evaluation metrics: STFT-D, mel-D and LSD, full band, per band and per stereo view.

One contract for the eval command, the benchmarks and the tests (DESIGN.md, "Metrics"):

- ``stft``: auraloss ``MultiResolutionSTFTLoss()`` defaults (FFT 1024/2048/512, hops
  120/240/50, windows 600/1200/240; spectral convergence + log-magnitude L1).
- ``mel``: auraloss ``MelSTFTLoss(sample_rate=44100)`` defaults (FFT 1024, hop 256, 128 mels).
- ``lsd``: log-spectral distance, STFT 2048/512 (Hann, centred), power spectra,
  ``mean_t sqrt(mean_f (log10(P_ref + 1e-10) - log10(P_est + 1e-10))^2)``.
- ``*_low`` / ``*_high``: both signals split at 11.025 kHz (8th-order Butterworth,
  zero phase) before the distance.
- stereo: ``lr_*`` (L and R, averaged), ``mid_*`` (M = (L+R)/2), ``side_*`` (S = (L-R)/2).

Every distance runs per clip and per channel (auraloss sees ``(1, 1, T)``), then averages
over channels: spectral convergence of a whole batch would mix clips. Inputs are 44.1 kHz,
``np.ndarray`` or ``torch.Tensor`` shaped ``(T,)`` or ``(C, T)``; results are Python floats.

Edge cases:
- Signals shorter than the largest FFT (2048) are zero-padded at the end to 2048 samples,
  est and ref alike, so every STFT has at least one full frame.
- A silent reference gives finite numbers: auraloss clamps power at ``eps = 1e-8`` before
  the log, and our spectral convergence clamps its denominator ``||ref||`` at ``1e-8``
  (identical to auraloss whenever the reference is not silent).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from auraloss.freq import MelSTFTLoss, MultiResolutionSTFTLoss, SpectralConvergenceLoss
from scipy.signal import butter, resample_poly, sosfiltfilt

from reencoder_cli.constants import SAMPLE_RATE

BAND_CUTOFF = 11025.0
MIN_LENGTH = 2048
LSD_N_FFT = 2048
LSD_HOP = 512
LSD_EPS = 1e-10
SC_EPS = 1e-8

Signal = np.ndarray | torch.Tensor

_BASE = {
    "stft": "multi-resolution STFT distance (auraloss; SC + log-mag L1)",
    "mel": "mel-STFT distance (auraloss; 1024 FFT, 128 mels)",
    "lsd": "log-spectral distance (2048/512 STFT, log10 power, RMS over freq)",
}
_BANDS = {"": "full band", "_low": "below 11.025 kHz", "_high": "above 11.025 kHz"}
_VIEWS = {"lr_": "left/right averaged", "mid_": "mid (L+R)/2", "side_": "side (L-R)/2"}
_BAND_DOCS = {f"{m}{b}": f"{d}, {bd}" for b, bd in _BANDS.items() for m, d in _BASE.items()}
ALL_METRICS: dict[str, str] = {
    **_BAND_DOCS,
    **{f"{v}{k}": f"{d}, {vd}" for v, vd in _VIEWS.items() for k, d in _BAND_DOCS.items()},
    "visqol": "ViSQOL v3 MOS-LQO, audio mode at 48 kHz (optional; higher is better)",
}
"""Every metric key that ``band_metrics``/``stereo_metrics``/``visqol`` produce -> description."""


class _SafeSpectralConvergence(SpectralConvergenceLoss):
    """auraloss spectral convergence with the denominator clamped at ``SC_EPS``."""

    def forward(self, x_mag: torch.Tensor, y_mag: torch.Tensor) -> torch.Tensor:
        num = torch.norm(y_mag - x_mag, p="fro")
        return num / torch.norm(y_mag, p="fro").clamp_min(SC_EPS)


def _guard(losses: list[torch.nn.Module]) -> None:
    for loss in losses:
        loss.spectralconv = _SafeSpectralConvergence()


@functools.cache
def _stft_loss() -> MultiResolutionSTFTLoss:
    loss = MultiResolutionSTFTLoss()
    _guard(list(loss.stft_losses))
    return loss.eval()


@functools.cache
def _mel_loss() -> MelSTFTLoss:
    loss = MelSTFTLoss(sample_rate=SAMPLE_RATE)
    _guard([loss])
    return loss.eval()


@functools.cache
def _butter(btype: str, cutoff: float, sample_rate: int) -> np.ndarray:
    return butter(8, cutoff, btype=btype, fs=sample_rate, output="sos")


def _as_2d(wav: Signal) -> torch.Tensor:
    """``(T,)`` or ``(C, T)`` array/tensor -> float32 CPU tensor ``(C, T)``."""
    if isinstance(wav, torch.Tensor):
        t = wav.detach().to("cpu", torch.float32)
    else:  # a copy also handles negative strides (``x[::-1]``), which torch refuses
        t = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    if t.ndim not in (1, 2):
        raise ValueError(f"expected a signal shaped (T,) or (C, T), got {tuple(t.shape)}")
    return t[None] if t.ndim == 1 else t


def _pair(est: Signal, ref: Signal) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes, convert to ``(C, T)`` float32 and zero-pad both to ``MIN_LENGTH``."""
    if tuple(est.shape) != tuple(ref.shape):
        raise ValueError(f"est and ref shapes differ: est {tuple(est.shape)} vs ref {tuple(ref.shape)}")
    e, r = _as_2d(est), _as_2d(ref)
    pad = MIN_LENGTH - e.shape[-1]
    if pad > 0:
        e, r = torch.nn.functional.pad(e, (0, pad)), torch.nn.functional.pad(r, (0, pad))
    return e, r


def _per_channel(loss: torch.nn.Module, est: Signal, ref: Signal) -> float:
    e, r = _pair(est, ref)
    with torch.no_grad():
        vals = [float(loss(e[c][None, None], r[c][None, None])) for c in range(e.shape[0])]
    return sum(vals) / len(vals)


def stft_distance(est: Signal, ref: Signal) -> float:
    """Multi-resolution STFT distance (auraloss defaults), averaged over channels.

    Args:
        est: estimate, (T,) or (C, T) at 44.1 kHz.
        ref: reference, same shape as ``est``.

    Returns:
        SC + log-magnitude L1, mean over the 3 resolutions; 0 for identical signals.
        Not symmetric (spectral convergence is normalised by ``ref``).
    """
    return _per_channel(_stft_loss(), est, ref)


def mel_distance(est: Signal, ref: Signal) -> float:
    """Mel-STFT distance (auraloss ``MelSTFTLoss(sample_rate=44100)``), averaged over channels.

    Args:
        est: estimate, (T,) or (C, T) at 44.1 kHz.
        ref: reference, same shape as ``est``.

    Returns:
        SC + log-magnitude L1 on 128 mel bands; 0 for identical signals.
    """
    return _per_channel(_mel_loss(), est, ref)


def log_power(x: torch.Tensor) -> torch.Tensor:
    """x: (C, T) -> log10 power spectrogram (C, LSD_N_FFT // 2 + 1, F)."""
    window = torch.hann_window(LSD_N_FFT)
    spec = torch.stft(x, LSD_N_FFT, LSD_HOP, window=window, return_complex=True)
    return torch.log10(spec.abs().square() + LSD_EPS)


def lsd(est: Signal, ref: Signal) -> float:
    """Log-spectral distance, averaged over channels.

    Args:
        est: estimate, (T,) or (C, T) at 44.1 kHz.
        ref: reference, same shape as ``est``.

    Returns:
        ``mean_t sqrt(mean_f (log10 P_ref - log10 P_est)^2)`` per channel, then averaged;
        symmetric, 0 for identical signals, ``2 * |log10 g|`` for a gain ``g``.
    """
    e, r = _pair(est, ref)
    with torch.no_grad():
        diff = log_power(r) - log_power(e)
        per_channel = diff.square().mean(dim=-2).sqrt().mean(dim=-1)
    return float(per_channel.mean())


def split_bands(
    wav: Signal, cutoff: float = BAND_CUTOFF, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Split into low and high bands with zero-phase 8th-order Butterworth filters.

    The two bands do not sum exactly to the input (Butterworth is not a perfect crossover).

    Args:
        wav: signal, (T,) or (C, T).
        cutoff: crossover frequency in Hz.
        sample_rate: sample rate of ``wav`` in Hz.

    Returns:
        ``(low, high)``, each the shape of ``wav``; float32 for float32 input, else float64.
    """
    x = wav.detach().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    padlen = min(27, x.shape[-1] - 1)  # scipy's default for 4 sections, capped for short x
    low, high = (
        sosfiltfilt(_butter(btype, cutoff, sample_rate), x, axis=-1, padlen=padlen) for btype in ("lowpass", "highpass")
    )
    return low.astype(dtype), high.astype(dtype)


def band_metrics(est: Signal, ref: Signal) -> dict[str, float]:
    """STFT-D, mel-D and LSD on the full band, below and above 11.025 kHz.

    Args:
        est: estimate, (T,) or (C, T) at 44.1 kHz.
        ref: reference, same shape as ``est``.

    Returns:
        ``{"stft", "mel", "lsd", "stft_low", ..., "lsd_high"}`` -> float (channel means).
    """
    e, r = (x.numpy() for x in _pair(est, ref))
    (e_lo, e_hi), (r_lo, r_hi) = split_bands(e), split_bands(r)
    out: dict[str, float] = {}
    for suffix, (a, b) in {"": (e, r), "_low": (e_lo, r_lo), "_high": (e_hi, r_hi)}.items():
        out[f"stft{suffix}"] = stft_distance(a, b)
        out[f"mel{suffix}"] = mel_distance(a, b)
        out[f"lsd{suffix}"] = lsd(a, b)
    return out


def mid_side_tensors(wav: Signal) -> tuple[torch.Tensor, torch.Tensor]:
    """Mid and side of a stereo signal.

    Args:
        wav: (2, T) left/right.

    Returns:
        ``(M, S)``, each (T,): ``M = (L + R) / 2``, ``S = (L - R) / 2``.
    """
    x = _as_2d(wav)
    if x.shape[0] != 2:
        raise ValueError(f"expected a stereo signal shaped (2, T), got {tuple(x.shape)}")
    return (x[0] + x[1]) / 2, (x[0] - x[1]) / 2


def stereo_metrics(est: Signal, ref: Signal) -> dict[str, float]:
    """``band_metrics`` on left/right (averaged), on mid and on side.

    Args:
        est: estimate, (2, T) at 44.1 kHz.
        ref: reference, (2, T).

    Returns:
        ``lr_*``, ``mid_*`` and ``side_*`` versions of every ``band_metrics`` key.
    """
    e, r = _pair(est, ref)
    (e_mid, e_side), (r_mid, r_side) = mid_side_tensors(e), mid_side_tensors(r)
    views = {"lr_": (e, r), "mid_": (e_mid, r_mid), "side_": (e_side, r_side)}
    return {f"{v}{k}": x for v, (a, b) in views.items() for k, x in band_metrics(a, b).items()}


@functools.lru_cache(maxsize=1)
def _visqol_api() -> Any:
    """The ViSQOL audio-mode scorer of ``visqol-python`` (``pip install -e ".[visqol]"``), or None."""
    try:
        from visqol import VisqolApi
    except ImportError:
        return None
    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol_available() -> bool:
    """Whether ``visqol`` can score (the optional ``visqol-python`` package is installed)."""
    return _visqol_api() is not None


def visqol(est: Signal, ref: Signal) -> float | None:
    """ViSQOL v3 MOS-LQO in audio mode, averaged over channels, if ``visqol-python`` is installed.

    Optional: returns ``None`` unless the offline ``visqol-python`` package (a pure-Python
    port of Google's ViSQOL v3) is importable; nothing is installed on demand. Audio mode
    works at 48 kHz, so both signals are resampled 44.1 -> 48 kHz (polyphase, 160/147) first.

    Args:
        est: estimate, (T,) or (C, T) at 44.1 kHz.
        ref: reference, same shape as ``est``.

    Returns:
        MOS-LQO in [1, 5] (higher is better), or ``None`` when ViSQOL is unavailable.
    """
    api = _visqol_api()
    if api is None:
        return None
    e, r = (resample_poly(x.double().numpy(), 160, 147, axis=-1) for x in _pair(est, ref))
    scores = [api.measure_from_arrays(r[c], e[c], 48000).moslqo for c in range(e.shape[0])]
    return float(sum(scores) / len(scores))
