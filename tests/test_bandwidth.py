"""Detecting the band a file's content fills (``upsample --from-rate auto``)."""

import numpy as np
import pytest
import soxr

from reencoder_cli.dsp.bandwidth import Spectrum, content_rate, cutoff_hz

SR = 44100


def noise(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Full-band noise, (1, T) float32."""
    return (0.1 * np.random.default_rng(seed).standard_normal((1, int(SR * seconds)))).astype(np.float32)


def through(wav: np.ndarray, rate: int) -> np.ndarray:
    """``wav`` band-limited by a round trip through ``rate`` (soxr, as a resampler or codec would)."""
    return soxr.resample(soxr.resample(wav[0], SR, rate, "VHQ"), rate, SR, "VHQ")[None].astype(np.float32)


def detect(wav: np.ndarray, block: int = 65536) -> int:
    spectrum = Spectrum(SR)
    assert (
        sum(b.shape[1] for b in spectrum.observe(wav[:, i : i + block] for i in range(0, wav.shape[1], block)))
        == (wav.shape[1])
    )
    return spectrum.content_rate()


@pytest.mark.parametrize("rate", [8000, 11025, 12000, 16000, 22050, 32000])
def test_a_resampled_band_is_found_at_its_rate(rate: int) -> None:
    assert detect(through(noise(), rate)) == rate


def test_full_band_and_smooth_roll_off_are_not_cuts() -> None:
    assert detect(noise()) == SR
    pink = np.fft.irfft(np.fft.rfft(noise()[0]) / np.sqrt(np.arange(1, SR * 3 // 2 + 2)), n=SR * 3)
    assert cutoff_hz(np.ones(2049), SR) is None  # a flat spectrum
    spectrum = Spectrum(SR)
    spectrum.add(pink[None].astype(np.float32))
    assert spectrum.content_rate() == SR


def test_odd_cut_is_rounded_and_stereo_blocks_are_mixed() -> None:
    wav = np.concatenate([through(noise(seed=1), 27000), through(noise(seed=2), 27000)])  # (2, T)
    # soxr's pass band ends a little below Nyquist: the edge is found 2% low, and not snapped
    assert detect(wav, block=10007) == pytest.approx(27000, rel=0.03)


def test_block_size_does_not_matter_and_short_input_is_safe() -> None:
    wav = through(noise(), 16000)
    assert detect(wav, block=4096) == detect(wav, block=333) == 16000
    assert content_rate(Spectrum(SR).power(), SR) == SR  # nothing seen
    short = Spectrum(SR)
    short.add(noise(0.01))
    assert short.content_rate() == SR
