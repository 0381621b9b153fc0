"""The band a file's content really fills, for ``upsample --from-rate auto``.

A file stored at 44.1 kHz may hold audio band-limited long before: a phone recording
resampled from 8 kHz, an MP3 low-passed at 16 kHz. Resamplers and codecs cut with a brick
wall, tens of dB within a few hundred Hz, where music itself rolls off smoothly; so the
content's band edge is where the long-term spectrum falls by at least ``DROP_DB`` and
stays down up to the file's Nyquist frequency (AudioSR finds its input's cutoff from the
spectrum too). The spectrum is gathered block by block while the file is read for
encoding, so detection costs no second pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE

N_FFT = 4096
DROP_DB = 30.0  # a codec's or resampler's cut; music's own roll-off is a few dB per kHz
SMOOTH_HZ = 200.0
LOWEST_HZ = 1000.0  # no cut searched below this
TOP = 0.98  # of Nyquist: the search stops short of the file's own anti-alias roll-off
STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, SAMPLE_RATE, 48000)
SNAP = 0.04  # a detected rate this close to a standard one is taken as that one


class Spectrum:
    """The long-term power spectrum of a stream of blocks (mono mix, Hann frames of ``N_FFT``).

    Args:
        sample_rate: the blocks' rate in Hz.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._power = np.zeros(N_FFT // 2 + 1)
        self._frames = 0
        self._rest = np.zeros(0, dtype=np.float32)
        self._window = np.hanning(N_FFT).astype(np.float32)

    def observe(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass ``blocks`` (C, n) through, adding each to the spectrum."""
        for block in blocks:
            self.add(block)
            yield block

    def add(self, block: np.ndarray) -> None:
        """Add a (C, n) block."""
        mono = np.concatenate([self._rest, block.mean(axis=0, dtype=np.float32)])
        whole = mono.shape[0] // N_FFT * N_FFT
        if whole:
            frames = mono[:whole].reshape(-1, N_FFT) * self._window
            self._power += np.square(np.abs(np.fft.rfft(frames, axis=1))).sum(axis=0)
            self._frames += frames.shape[0]
        self._rest = mono[whole:]

    def power(self) -> np.ndarray:
        """Mean power per bin: (N_FFT // 2 + 1,); a shorter input is one zero-padded frame."""
        if self._frames == 0:
            frame = np.zeros(N_FFT, dtype=np.float32)
            frame[: self._rest.shape[0]] = self._rest
            return np.square(np.abs(np.fft.rfft(frame * self._window)))
        return self._power / self._frames

    def content_rate(self) -> int:
        """The rate whose Nyquist frequency is the content's band edge (see ``content_rate``)."""
        return content_rate(self.power(), self.sample_rate)


def cutoff_hz(power: np.ndarray, sample_rate: int) -> float | None:
    """The content's band edge in Hz, or None when its spectrum has no brick-wall cut.

    For every candidate frequency f the mean level just below f (0.1 to 0.6 kHz) is compared
    with the highest level anywhere above f (from f + 0.1 kHz up to ``TOP`` x Nyquist), on
    the log spectrum smoothed over ``SMOOTH_HZ``; the edge is the f where that drop is
    largest, if it reaches ``DROP_DB``.

    Args:
        power: (N_FFT // 2 + 1,) mean power per bin.
        sample_rate: in Hz.
    """
    step = sample_rate / N_FFT
    width = max(1, round(SMOOTH_HZ / step))
    level = 10.0 * np.log10(np.maximum(power, 1e-20))
    smooth = np.convolve(np.pad(level, width, mode="edge"), np.ones(width) / width, mode="same")[width:-width]
    top = int(TOP * (power.shape[0] - 1))
    near, far = width // 2 + 1, 3 * width
    first = max(far, int(LOWEST_HZ / step))
    if top - near <= first:
        return None
    candidates = np.arange(first, top - near)
    sums = np.concatenate([[0.0], np.cumsum(smooth)])
    below = (sums[candidates - near] - sums[candidates - far]) / (far - near)
    above = np.maximum.accumulate(smooth[:top][::-1])[::-1]  # above[k] = max(smooth[k:top])
    drop = below - above[candidates + near]
    best = int(np.argmax(drop))
    return float(candidates[best] * step) if drop[best] >= DROP_DB else None


def content_rate(power: np.ndarray, sample_rate: int) -> int:
    """Twice the content's band edge, snapped to a standard rate within ``SNAP``, at least 8 kHz.

    The file's own rate when no cut is found.

    Args:
        power: (N_FFT // 2 + 1,) mean power per bin.
        sample_rate: in Hz.
    """
    edge = cutoff_hz(power, sample_rate)
    if edge is None:
        return sample_rate
    rate = 2.0 * edge
    nearest = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    rate = nearest if abs(nearest - rate) <= SNAP * nearest else round(rate, -1)
    return int(min(sample_rate, max(STANDARD_RATES[0], rate)))
