"""Cheap waveform post-steps after the single decode, for file input.

- ``keep_lowband``: below the input's Nyquist the output is the input itself; the model
  supplies only what lies above, joined by a short linear-phase crossover.
- ``keep_mid``: the output's mid ``(L + R) / 2`` is the mono input exactly; the model
  supplies only the side, either as decoded (``keep_mid``) or as a stereo image applied to
  the input (``parametric_stereo``).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.chunks import chunks
from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.defaults import UPMIX_MIN_SIDE_DB

if TYPE_CHECKING:
    import torch

CROSSOVER_AT = 0.95  # crossover centre, as a fraction of the input's Nyquist frequency
CROSSOVER_WIDTH = 0.05  # transition width, same unit
IMAGE_FFT = 2048  # STFT of the parametric stereo image (Hann, hop a quarter)
IMAGE_HOP = IMAGE_FFT // 4
IMAGE_MARGIN = IMAGE_FFT  # samples of context each side that parametric_stereo needs for an exact result


def lowpass_fir(cutoff: float, width: float, sample_rate: int, attenuation: float = 80.0) -> np.ndarray:
    """A symmetric (zero-phase when centred) Kaiser-window low-pass, unit gain at DC.

    Kaiser's design rules, as ``scipy.signal.kaiserord`` + ``firwin`` apply them (the tests
    check the taps against scipy), written out in numpy because importing ``scipy.signal``
    costs more than a second of every ``upsample`` command.

    Args:
        cutoff: centre of the transition in Hz.
        width: transition width in Hz.
        sample_rate: rate in Hz.
        attenuation: stopband attenuation in dB (above 50).

    Returns:
        (N,) taps, N odd.
    """
    taps = math.ceil((attenuation - 7.95) / (2.285 * math.pi * width / (0.5 * sample_rate)) + 1) | 1
    beta = 0.1102 * (attenuation - 8.7)
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff / sample_rate * np.sinc(2 * cutoff / sample_rate * n) * np.kaiser(taps, beta)
    return (h / h.sum()).astype(np.float32)


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full linear convolution of each row with ``h``, by overlap-add of short FFTs.

    x: (C, T), h: (N,) -> (C, T + N - 1) float32
    """
    channels, length = x.shape
    n = len(h)
    size = 1 << (8 * n - 1).bit_length()  # FFT size: segments of about 7 N samples
    step = size - n + 1
    segments = -(-length // step)
    padded = np.zeros((channels, segments * step), np.float32)
    padded[:, :length] = x
    y = np.fft.irfft(np.fft.rfft(padded.reshape(channels, segments, step), size) * np.fft.rfft(h, size), size)
    out = np.zeros((channels, segments + 1, step), np.float32)  # a tail (n - 1 < step) spills into the next
    out[:, :-1] += y[..., :step]
    out[:, 1:, : n - 1] += y[..., step:]
    return out.reshape(channels, -1)[:, : length + n - 1]


def crossover(
    low_from: np.ndarray, high_from: np.ndarray, cutoff: float, width: float, sample_rate: int, block: int = 1 << 20
) -> np.ndarray:
    """Join the band below ``cutoff`` of one signal to the band above it of another.

    Computed as ``high + lowpass(low - high)``: the two bands' filters sum to exactly
    one, so equal inputs give that input back. Runs in float32 blocks of ``block``
    samples, so memory stays at the output plus one block.

    Args:
        low_from: (C, T) source of the low band.
        high_from: (C, T) source of the high band.
        cutoff: crossover centre in Hz.
        width: transition width in Hz.
        sample_rate: rate in Hz.
        block: samples per block.

    Returns:
        (C, T) float32
    """
    h = lowpass_fir(cutoff, width, sample_rate)
    half = len(h) // 2
    length = low_from.shape[-1]
    out = np.array(high_from, dtype=np.float32)
    for chunk in chunks(length, block, half):
        diff = (low_from[:, chunk.lo : chunk.hi] - high_from[:, chunk.lo : chunk.hi]).astype(np.float32)
        filtered = fft_convolve(diff, h)  # (C, hi - lo + 2 half): ``half`` samples more each side
        out[:, chunk.start : chunk.stop] += filtered[:, half:][:, chunk.kept]
    return out


def keep_lowband(
    reference: np.ndarray, output: np.ndarray, source_rate: int, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """The model's output with its band below the input's Nyquist replaced by the input.

    Args:
        reference: (C, T) the input resampled to ``sample_rate``.
        output: (C, T) the decoded model output, same shape.
        source_rate: the input's original rate (its Nyquist sets the crossover).
        sample_rate: rate of both signals.

    Returns:
        (C, T)
    """
    nyquist = min(source_rate, sample_rate) / 2
    return crossover(reference, output, CROSSOVER_AT * nyquist, CROSSOVER_WIDTH * nyquist, sample_rate)


def margin_for(source_rate: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of context each side that ``keep_lowband`` needs for an exact result."""
    nyquist = min(source_rate, sample_rate) / 2
    return len(lowpass_fir(CROSSOVER_AT * nyquist, CROSSOVER_WIDTH * nyquist, sample_rate)) // 2


def mid_side(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, T) left/right -> mid (1, T) = (L + R) / 2 and side (1, T) = (L - R) / 2."""
    return (wav[:1] + wav[1:]) / 2, (wav[:1] - wav[1:]) / 2


def side_to_mid_db(wav: np.ndarray) -> float:
    """(2, T) -> the side-to-mid power ratio of the whole clip, dB (-300 for dual mono)."""
    mid, side = mid_side(wav)
    return float(10 * np.log10((np.square(side).sum() + 1e-30) / (np.square(mid).sum() + 1e-30)))


def from_mid_side(mid: np.ndarray, side: np.ndarray) -> np.ndarray:
    """mid (1, T), side (1, T) -> (2, T) left/right."""
    return np.concatenate([mid + side, mid - side]).astype(np.float32)


def keep_mid(mono: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Stereo output whose mid is ``mono`` exactly and whose side is the model's.

    Args:
        mono: (1, T) the mono input.
        output: (2, T) the decoded upmix.

    Returns:
        (2, T) with (L + R) / 2 == mono.
    """
    return from_mid_side(mono, mid_side(output)[1])


@functools.lru_cache(maxsize=4)
def third_octaves(n_fft: int, sample_rate: int) -> torch.Tensor:
    """(bands, bins) 0/1 matrix grouping STFT bins into third-octave bands (below 100 Hz: one band)."""
    import torch

    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    edges = 100.0 * 2.0 ** (np.arange(0, 3 * math.log2(sample_rate / 200) + 1) / 3)
    band = np.searchsorted(edges, freqs, side="right")  # 0 below 100 Hz
    _, band = np.unique(band, return_inverse=True)  # drop bands no bin falls in
    matrix = torch.zeros(int(band.max()) + 1, len(freqs))
    matrix[torch.from_numpy(band), torch.arange(len(freqs))] = 1.0
    return matrix


def band_powers(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The mid's and the side's power per third-octave band, summed over time: (2, T) -> (2, bands).

    Sums of blocks add up to the whole file's (up to the blocks' edges), so a long
    reference can be measured block by block.
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(np.concatenate(mid_side(wav)), dtype=np.float32))
    spec = torch.stft(
        x, IMAGE_FFT, IMAGE_HOP, window=torch.hann_window(IMAGE_FFT), pad_mode="constant", return_complex=True
    )
    return (third_octaves(IMAGE_FFT, sample_rate) @ spec.abs().square().sum(dim=-1).T).T.numpy()


def band_widths(powers: np.ndarray) -> np.ndarray:
    """Side-to-mid power ratio per band, in [0, 1], from ``band_powers``: (2, bands) -> (bands,).

    A band without content (under 1e-6 of the loudest) takes the median of the others'.
    """
    mid, side = powers
    ratio = np.clip(side / np.maximum(mid, 1e-20), 0.0, 1.0)
    heard = mid > mid.max() * 1e-6
    if not heard.any():
        return np.zeros_like(ratio)
    return np.where(heard, ratio, np.median(ratio[heard])).astype(np.float32)


def parametric_stereo(
    mono: np.ndarray,
    output: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    min_side_db: float = UPMIX_MIN_SIDE_DB,
    reference: np.ndarray | None = None,
    style_mix: float = 1.0,
) -> np.ndarray:
    """Stereo whose mid is ``mono`` exactly and whose side is the model's image applied to it.

    As parametric stereo coding does (HE-AAC v2), per third-octave band and STFT frame
    (``IMAGE_FFT``, hop ``IMAGE_HOP``) of the decoded output, two parameters:

    - the width ``w``, side-to-mid power: the output's ``|S|^2 / |M|^2`` (summed over the
      band's bins) with at least ``10^(min_side_db / 10)``; with a ``reference`` (its
      ``band_widths``), ``w^(1 - style_mix) * reference^style_mix``: the reference's own
      width when ``style_mix`` is 1, whatever the model's; at most 1;
    - the panning ``r = Re<S, M> / |M|^2`` of the output's mid M and side S, the
      least-squares share of the side that is coherent with the mid (a source at levels
      ``gl``, ``gr`` gives ``r = (gl - gr) / (gl + gr)``), limited to ``|r| <= sqrt(w)``; so
      the side ``r * mono`` places each band's sources as a level difference would, and the
      ambience ``a = sqrt(w - r^2)`` carries the rest of the width on the input's quadrature
      copy (90 degrees shifted): each bin of the side is ``|mono| * sqrt(w)`` and neither
      channel gets the comb coloration a delayed copy gives.

    So the side holds only the input's own sound, never the decoder's artifacts; the model
    decides where it goes, and ``|side| <= |mid|`` in every band. The floor is there because
    the decoder makes the phases of both channels from their latents, nearly alike: its
    side is about 15 dB below the true one on music even when the latents are the true L
    and R (BENCHMARKS.md), so the decoded side level is a lower bound, not an estimate. The
    floor shapes only the model's share of the width, never a reference's.

    Args:
        mono: (1, T) the mono input.
        output: (2, T) the decoded upmix.
        sample_rate: their rate.
        min_side_db: least side level per band and frame of the model's width, dB re the mid (-inf: none).
        reference: (bands,) the width a reference asks for (``band_widths``), or None.
        style_mix: the reference's share of the width, in the log domain (with ``reference``).

    Returns:
        (2, T) float32 with (L + R) / 2 == mono.
    """
    import torch

    length = mono.shape[-1]
    window = torch.hann_window(IMAGE_FFT)
    bands = third_octaves(IMAGE_FFT, sample_rate)

    def stft(x: np.ndarray) -> torch.Tensor:  # (C, T) -> (C, bins, frames)
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return torch.stft(t, IMAGE_FFT, IMAGE_HOP, window=window, pad_mode="constant", return_complex=True)

    mid, side = stft(np.concatenate(mid_side(output)))  # (bins, frames) each
    power = (bands @ mid.abs().square()).add(1e-12)  # (bands, frames)
    pan = ((bands @ (mid * side.conj()).real) / power).clamp(-1.0, 1.0)
    width = ((bands @ side.abs().square()) / power).clamp(min=10.0 ** (min_side_db / 10), max=1.0)
    if reference is not None:
        asked = torch.from_numpy(np.asarray(reference, np.float32)).clamp_min(1e-12)[:, None]  # (bands, 1)
        width = (width.log() * (1 - style_mix) + asked.log() * style_mix).exp().clamp(max=1.0)
        pan = torch.maximum(torch.minimum(pan, width.sqrt()), -width.sqrt())
    ambience = (width - pan.square()).clamp_min(0.0).sqrt()
    dry = stft(mono)[0]
    spec = dry * torch.complex(bands.T @ pan, bands.T @ ambience)
    side = torch.istft(spec, IMAGE_FFT, IMAGE_HOP, window=window, length=length).numpy()
    return from_mid_side(mono, side[None])
