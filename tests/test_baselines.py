"""Classical baselines: shapes, band contracts, noise level, SBR beats sinc, mono compatibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import music
from scipy.signal import welch

from reencoder_cli.dsp.baselines import (
    dual_mono,
    noise_fill,
    noise_fill_levels,
    pseudo_stereo,
    sinc_upsample,
    spectral_band_replication,
)
from reencoder_cli.eval.metrics import band_metrics, mid_side_tensors
from reencoder_cli.io.audio import resample, resampled_length

SR = 44100
RATES = (16000, 22050)


def band_limited(ref: np.ndarray, source_rate: int) -> np.ndarray:
    """``ref`` (44.1 kHz) taken down to ``source_rate`` and sinc-upsampled back: (C, T)."""
    return sinc_upsample(resample(ref, SR, source_rate), source_rate)


def white(seconds: float, sample_rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((channels, int(seconds * sample_rate)))).astype(np.float32)


def band_energy(x: np.ndarray, low: float, high: float) -> float:
    """Energy of x (C, T) between ``low`` and ``high`` Hz (Welch, 8192 Hann, fine bins)."""
    f, p = welch(x.astype(np.float64), SR, nperseg=min(8192, x.shape[-1]), axis=-1)
    return float(p[..., (f >= low) & (f < high)].sum())


def db(ratio: float) -> float:
    return 10 * math.log10(ratio + 1e-30)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("length", [1, 7, 2049, 8001])
@pytest.mark.parametrize("channels", [1, 2])
def test_bandwidth_baselines_keep_shape_and_stay_finite(length: int, channels: int) -> None:
    low = white(1.0, 16000, channels)[:, :length]
    up = sinc_upsample(low, 16000)
    assert up.shape == (channels, resampled_length(length, 16000, SR)) and up.dtype == np.float32
    for out in (noise_fill(up, 16000, 0.0), spectral_band_replication(up, 16000)):
        assert out.shape == up.shape and out.dtype == np.float32
        assert np.isfinite(out).all()


@pytest.mark.parametrize("length", [1, 7, 8001])
def test_stereo_baselines_make_two_channels(length: int) -> None:
    mono = white(1.0, SR)[:, :length]
    for out in (dual_mono(mono), pseudo_stereo(mono)):
        assert out.shape == (2, length) and out.dtype == np.float32
        assert np.isfinite(out).all()


def test_stereo_baselines_refuse_stereo_input() -> None:
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        pseudo_stereo(white(0.1, SR, channels=2))
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        dual_mono(white(0.1, SR, channels=2))


@pytest.mark.parametrize("source_rate", [20, 500, 800, 8000])
def test_any_source_rate_gives_finite_output(source_rate: int) -> None:
    up = sinc_upsample(white(0.5, source_rate), source_rate)
    for out in (noise_fill(up, source_rate, 0.0), spectral_band_replication(up, source_rate)):
        assert out.shape == up.shape and np.isfinite(out).all()


def test_full_rate_input_is_left_alone() -> None:
    x = white(0.5, SR)
    np.testing.assert_array_equal(noise_fill(x, SR, 0.0), x)
    np.testing.assert_array_equal(spectral_band_replication(x, SR), x)


# ---------------------------------------------------------------- sinc and noise fill


def test_sinc_upsample_adds_no_band() -> None:
    up = sinc_upsample(white(2.0, 16000), 16000)
    assert db(band_energy(up, 8200, SR / 2) / band_energy(up, 0, 8000)) < -60


def test_noise_fill_levels_are_a_3db_grid_around_0db() -> None:
    levels = noise_fill_levels()
    assert 0.0 in levels and np.allclose(np.diff(levels), 3.0)


@pytest.mark.parametrize("source_rate", RATES)
@pytest.mark.parametrize("level_db", [-12.0, 0.0])
def test_noise_fill_adds_noise_at_the_requested_level(source_rate: int, level_db: float) -> None:
    nyq = source_rate / 2
    up = sinc_upsample(white(2.0, source_rate), source_rate)
    added = noise_fill(up, source_rate, level_db) - up
    # power spectral densities: the input's reference band vs the new band
    ref = band_energy(up, 0.8 * nyq, 0.925 * nyq) / (0.125 * nyq)
    new = band_energy(added, 1.05 * nyq, 21000) / (21000 - 1.05 * nyq)
    assert db(new / ref) == pytest.approx(level_db, abs=2.0)


@pytest.mark.parametrize("source_rate", RATES)
def test_noise_fill_leaves_the_band_below_untouched(source_rate: int) -> None:
    nyq = source_rate / 2
    up = band_limited(music(3.0, top_hz=20000), source_rate)
    added = noise_fill(up, source_rate, 0.0) - up
    assert db(band_energy(added, 0, 0.95 * nyq) / band_energy(up, 0, 0.95 * nyq)) < -70
    assert db(band_energy(added, nyq, SR / 2) / band_energy(up, 0.8 * nyq, 0.925 * nyq)) > -20


def test_noise_fill_is_deterministic_per_seed() -> None:
    up = sinc_upsample(white(0.5, 16000, channels=2), 16000)
    a, b, c = (noise_fill(up, 16000, 0.0, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a[0] - up[0], a[1] - up[1])  # independent noise per channel


def test_noise_fill_keeps_silence_silent() -> None:
    silence = np.zeros((2, 22050), dtype=np.float32)
    np.testing.assert_array_equal(noise_fill(silence, 16000, 6.0), silence)
    # and the noise follows the envelope: nothing added long before a late onset (up to
    # the FFT convolution's rounding, -180 dB)
    late = np.concatenate([silence[:1], sinc_upsample(white(0.5, 16000), 16000)], axis=1)
    added = noise_fill(late, 16000, 0.0) - late
    assert np.abs(added[:, :18000]).max() < 1e-7 and np.abs(added[:, 24000:]).max() > 1e-3


# ---------------------------------------------------------------- spectral band replication


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return music(3.0, top_hz=20000)


@pytest.mark.parametrize("source_rate", RATES)
def test_sbr_keeps_the_band_below_and_adds_above(reference: np.ndarray, source_rate: int) -> None:
    nyq = source_rate / 2
    up = band_limited(reference, source_rate)
    out = spectral_band_replication(up, source_rate)
    assert db(band_energy(out - up, 0, 0.95 * nyq) / band_energy(up, 0, 0.95 * nyq)) < -70
    # the new band holds energy comparable to the reference's, not the sinc's near-silence
    new, want, sinc = (band_energy(x, 1.05 * nyq, 20000) for x in (out, reference, up))
    assert abs(db(new / want)) < 6 and db(new / sinc) > 40


@pytest.mark.parametrize("source_rate", RATES)
def test_sbr_beats_sinc_on_high_band_lsd(reference: np.ndarray, source_rate: int) -> None:
    up = band_limited(reference, source_rate)
    sinc = band_metrics(up, reference)["lsd_high"]
    sbr = band_metrics(spectral_band_replication(up, source_rate), reference)["lsd_high"]
    assert sbr < 0.5 * sinc


def test_sbr_copies_a_tone_coherently_along_the_envelope_line() -> None:
    # 6 kHz at 16 kHz: copied up by P = 176 bins (3790 Hz); a lone tone fits a rising line,
    # so the slope is clamped to -3 dB/octave. Incoherent copies would lose ~6 dB.
    t = np.arange(2 * 16000) / 16000
    up = sinc_upsample((0.3 * np.sin(2 * np.pi * 6000 * t))[None].astype(np.float32), 16000)
    added = spectral_band_replication(up, 16000) - up
    copy = 6000 + 176 * SR / 2048
    gain = db(band_energy(added, copy - 300, copy + 300) / band_energy(up, 5700, 6300))
    assert gain == pytest.approx(-3 * math.log2(copy / 6000), abs=1.0)
    assert db(band_energy(added, 8000, copy - 300) / band_energy(added, copy - 300, copy + 300)) < -40


# ---------------------------------------------------------------- pseudo-stereo


def test_pseudo_stereo_is_mono_compatible_with_a_side() -> None:
    mono = band_limited(music(2.0, top_hz=20000), 22050)
    stereo = pseudo_stereo(mono)
    mid, side = mid_side_tensors(stereo)
    np.testing.assert_allclose(mid.numpy(), mono[0], atol=1e-6)
    assert float(side.square().mean()) > 1e-3 * float(mid.square().mean())
    assert float(mid_side_tensors(dual_mono(mono))[1].abs().max()) == 0.0


def test_pseudo_stereo_keeps_bass_centred() -> None:
    t = np.arange(SR) / SR

    def side_to_mid_db(freq: float) -> float:
        mid, side = mid_side_tensors(pseudo_stereo(np.sin(2 * np.pi * freq * t)[None].astype(np.float32)))
        return db(float(side[SR // 2 :].square().mean() / mid[SR // 2 :].square().mean()))

    assert side_to_mid_db(50.0) < -25 < side_to_mid_db(2000.0) < -3
