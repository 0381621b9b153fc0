"""benchmarks/spectral_detail.py measures what it says: level per band and harmonic detail."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "spectral_detail.py"
sys.path.insert(0, str(SCRIPT.parent))  # its `common` import, as running the script finds it
spec = importlib.util.spec_from_file_location("spectral_detail", SCRIPT)
assert spec is not None and spec.loader is not None
sd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sd)

RATE = 44100


def harmonic_tone(f0: float = 110.0, seconds: float = 2.0) -> np.ndarray:
    """(T,) a steady tone with 8 partials: sharp peaks below 1 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 9)).astype(np.float64)


def test_band_levels_read_a_gain_and_a_lowpass() -> None:
    x = np.random.default_rng(0).standard_normal(RATE)
    assert sd.band_levels(0.5 * x, x) == pytest.approx([-6.02] * 7, abs=0.01)
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(x.size, 1 / RATE) >= 4000] = 0
    levels = sd.band_levels(np.fft.irfft(spectrum, x.size), x)
    assert levels[:3] == pytest.approx([0.0] * 3, abs=0.01) and max(levels[3:]) < -100


def test_harmonic_detail_is_one_for_itself_drops_for_noise_and_for_partials_in_the_wrong_place() -> None:
    tone = harmonic_tone()
    ref_contrast, out_contrast, corr = sd.harmonic_detail(tone, tone)
    assert out_contrast == pytest.approx(ref_contrast) and corr == pytest.approx(1.0)
    # noise at the tone's level: no partials stand out, no shared spectral shape
    noise = np.random.default_rng(1).standard_normal(tone.size) * np.std(tone)
    _, out_contrast, corr = sd.harmonic_detail(noise, tone)
    assert out_contrast < 0.6 * ref_contrast and abs(corr) < 0.1
    # partials as sharp as the input's but between its partials (165 Hz against 110 Hz)
    _, out_contrast, corr = sd.harmonic_detail(harmonic_tone(165.0), tone)
    assert out_contrast > ref_contrast and corr < 0.3
