"""Cheap waveform post-steps after the single decode, for file input.

- ``keep_lowband``: below the input's Nyquist the output is the input itself; the model
  supplies only what lies above, joined by a short linear-phase crossover.
- ``keep_mid``: the output's mid ``(L + R) / 2`` is the mono input exactly; the model
  supplies only the side.
"""

from __future__ import annotations

import numpy as np

CROSSOVER_AT = 0.95  # crossover centre, as a fraction of the input's Nyquist frequency
CROSSOVER_WIDTH = 0.05  # transition width, same unit


def lowpass_fir(cutoff: float, width: float, sample_rate: int) -> np.ndarray:
    """A symmetric (zero-phase when centred) Kaiser-window low-pass with 80 dB stopband.

    Args:
        cutoff: centre of the transition in Hz.
        width: transition width in Hz.
        sample_rate: rate in Hz.

    Returns:
        (N,) taps, N odd.
    """
    from scipy.signal import firwin, kaiserord  # imported here: scipy.signal costs ~1 s to import

    taps, beta = kaiserord(80.0, width / (0.5 * sample_rate))
    return firwin(taps | 1, cutoff, window=("kaiser", beta), fs=sample_rate).astype(np.float32)


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
    from scipy.signal import oaconvolve

    h = lowpass_fir(cutoff, width, sample_rate)
    half = len(h) // 2
    length = low_from.shape[-1]
    out = np.array(high_from, dtype=np.float32)
    for a in range(0, length, block):
        b = min(length, a + block)
        a0, b0 = max(0, a - half), min(length, b + half)
        diff = (low_from[:, a0:b0] - high_from[:, a0:b0]).astype(np.float32)
        filtered = oaconvolve(diff, h[None], mode="full", axes=-1)  # (C, b0 - a0 + 2 half)
        out[:, a:b] += filtered[:, a - a0 + half : b - a0 + half]
    return out


def keep_lowband(reference: np.ndarray, output: np.ndarray, source_rate: int, sample_rate: int = 44100) -> np.ndarray:
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


def margin_for(source_rate: int, sample_rate: int = 44100) -> int:
    """Samples of context each side that ``keep_lowband`` needs for an exact result."""
    nyquist = min(source_rate, sample_rate) / 2
    return len(lowpass_fir(CROSSOVER_AT * nyquist, CROSSOVER_WIDTH * nyquist, sample_rate)) // 2


def mid_side(wav: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, T) left/right -> mid (1, T) = (L + R) / 2 and side (1, T) = (L - R) / 2."""
    return (wav[:1] + wav[1:]) / 2, (wav[:1] - wav[1:]) / 2


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
