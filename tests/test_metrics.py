"""Metric contracts: identities, orderings, band split, stereo views, edge cases."""

from __future__ import annotations

import math
import sys

import auraloss
import numpy as np
import pytest
import torch
from conftest import music
from scipy.signal import butter, sosfiltfilt

from reencoder_cli.eval import metrics
from reencoder_cli.eval.metrics import (
    ALL_METRICS,
    band_metrics,
    lsd,
    mel_distance,
    split_bands,
    stereo_metrics,
    stft_distance,
)

SR = 44100


def add_noise(x: np.ndarray, db: float, rng: np.random.Generator) -> np.ndarray:
    """x plus white noise ``db`` dB below the RMS of x."""
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    return (x + rng.standard_normal(x.shape) * rms * 10 ** (db / 20)).astype(np.float32)


def lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    sos = butter(8, cutoff, btype="lowpass", fs=SR, output="sos")
    return sosfiltfilt(sos, x, axis=-1).astype(np.float32)


def energy_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.sum(x.astype(np.float64) ** 2)) + 1e-30)


@pytest.fixture(scope="module")
def mono() -> np.ndarray:
    return music(1.0, seed=0, top_hz=20000)[0]


@pytest.fixture(scope="module")
def stereo() -> np.ndarray:
    """(2, T): two different chords, so the side channel carries real content."""
    a, b = music(1.0, seed=1, top_hz=20000)[0], music(1.0, seed=2, top_hz=20000)[0]
    return np.stack([0.7 * a + 0.3 * b, 0.3 * a + 0.7 * b])


# ---------------------------------------------------------------- identities


def test_identity_is_zero(mono: np.ndarray, stereo: np.ndarray) -> None:
    for value in band_metrics(mono, mono).values():
        assert 0.0 <= value < 1e-5
    for value in stereo_metrics(stereo, stereo).values():
        assert 0.0 <= value < 1e-5


def test_different_signal_scores_above_identity(mono: np.ndarray) -> None:
    other = music(1.0, seed=7, top_hz=20000)[0]
    for key, value in band_metrics(other, mono).items():
        assert value > 1e-2, key


def test_lsd_is_symmetric(mono: np.ndarray) -> None:
    other = add_noise(mono, -30, np.random.default_rng(2))
    assert lsd(other, mono) == pytest.approx(lsd(mono, other), rel=1e-6)


def test_lsd_of_a_gain_is_twice_its_log(mono: np.ndarray) -> None:
    # power ratio g^2 in every bin -> log10 difference 2 log10 g everywhere
    assert lsd(2.0 * mono, mono) == pytest.approx(2 * math.log10(2.0), abs=1e-3)


def test_uses_auraloss_classes_with_est_as_input(mono: np.ndarray) -> None:
    est = add_noise(mono, -30, np.random.default_rng(3))
    e, r = torch.from_numpy(est)[None, None], torch.from_numpy(mono)[None, None]
    with torch.no_grad():
        want_stft = float(auraloss.freq.MultiResolutionSTFTLoss()(e, r))
        want_mel = float(auraloss.freq.MelSTFTLoss(sample_rate=SR)(e, r))
    assert stft_distance(est, mono) == pytest.approx(want_stft, rel=1e-5)
    assert mel_distance(est, mono) == pytest.approx(want_mel, rel=1e-5)


def test_stft_distance_takes_est_first(mono: np.ndarray) -> None:
    # a gain g: log-magnitude terms are symmetric, spectral convergence is |1 - g| / 1
    # for (est=g*x, ref=x) but |1 - g| / g reversed: 0.5 vs 1.0 for g = 0.5
    half = 0.5 * mono
    assert stft_distance(half, mono) - stft_distance(mono, half) == pytest.approx(-0.5, abs=1e-3)


def test_multichannel_is_the_mean_over_channels(stereo: np.ndarray) -> None:
    est = add_noise(stereo, -30, np.random.default_rng(4))
    for fn in (stft_distance, mel_distance, lsd):
        per_channel = [fn(est[c], stereo[c]) for c in range(2)]
        assert fn(est, stereo) == pytest.approx(np.mean(per_channel), rel=1e-5)


def test_torch_and_numpy_inputs_agree(mono: np.ndarray) -> None:
    est = add_noise(mono, -30, np.random.default_rng(5))
    from_numpy = band_metrics(est, mono)
    from_torch = band_metrics(torch.from_numpy(est).double(), torch.from_numpy(mono).double())
    assert from_torch == pytest.approx(from_numpy, rel=1e-4)


# ----------------------------------------------------------------- orderings


def test_lowpassed_copy_loses_the_high_band_only(mono: np.ndarray) -> None:
    noisy = band_metrics(add_noise(mono, -40, np.random.default_rng(6)), mono)
    lowpassed = band_metrics(lowpass(mono, 8000.0), mono)
    assert lowpassed["stft_high"] > 3 * noisy["stft_high"]
    assert lowpassed["lsd_high"] > 2 * noisy["lsd_high"]
    assert lowpassed["stft_low"] < 0.5 * lowpassed["stft_high"]
    assert lowpassed["lsd_low"] < 0.5 * lowpassed["lsd_high"]


@pytest.mark.parametrize("fn", [stft_distance, mel_distance, lsd])
def test_more_noise_is_farther(mono: np.ndarray, fn) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    values = [fn(add_noise(mono, db, rng), mono) for db in (-60.0, -40.0, -20.0)]
    assert 0.0 < values[0] < values[1] < values[2]


def test_dual_mono_loses_the_side(stereo: np.ndarray) -> None:
    mid = stereo.mean(axis=0)
    dual_mono = stereo_metrics(np.stack([mid, mid]), stereo)
    close = stereo_metrics(add_noise(stereo, -40, np.random.default_rng(9)), stereo)
    assert dual_mono["side_stft"] > 3 * close["side_stft"]
    assert dual_mono["side_lsd"] > close["side_lsd"]
    # the mid of dual mono is exact
    assert dual_mono["mid_stft"] < 1e-5


# ------------------------------------------------------------- stereo views


def test_mid_side_definition(stereo: np.ndarray) -> None:
    # the distances are nearly gain- and sign-invariant, so check the helper itself
    mid, side = metrics.mid_side_tensors(stereo)
    np.testing.assert_allclose(mid.numpy(), (stereo[0] + stereo[1]) / 2, rtol=0, atol=1e-7)
    np.testing.assert_allclose(side.numpy(), (stereo[0] - stereo[1]) / 2, rtol=0, atol=1e-7)
    est = add_noise(stereo, -30, np.random.default_rng(10))
    got = stereo_metrics(est, stereo)
    mid_e, mid_r = (est[0] + est[1]) / 2, (stereo[0] + stereo[1]) / 2
    side_e, side_r = (est[0] - est[1]) / 2, (stereo[0] - stereo[1]) / 2
    assert got["mid_stft"] == pytest.approx(stft_distance(mid_e, mid_r), rel=1e-4)
    assert got["side_mel"] == pytest.approx(mel_distance(side_e, side_r), rel=1e-4)
    assert got["side_lsd_high"] == pytest.approx(band_metrics(side_e, side_r)["lsd_high"], rel=1e-4)
    assert {k[len("lr_") :]: v for k, v in got.items() if k.startswith("lr_")} == pytest.approx(
        band_metrics(est, stereo), rel=1e-5
    )


def test_identical_channels_give_a_silent_side_and_finite_metrics(mono: np.ndarray) -> None:
    ref = np.stack([mono, mono])
    est = add_noise(ref, -40, np.random.default_rng(11))  # independent noise per channel
    got = stereo_metrics(est, ref)
    assert all(math.isfinite(v) for v in got.values())
    assert got["side_stft"] > got["mid_stft"]  # est's side is pure noise against silence
    # L = R on both sides -> S = 0 on both sides -> side distances are exactly 0
    assert stereo_metrics(ref, ref)["side_stft"] == 0.0


def test_stereo_metrics_needs_two_channels(mono: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(2, T\)"):
        stereo_metrics(mono[None], mono[None])


# ----------------------------------------------------------------- band split


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_band_split_puts_tones_in_their_band() -> None:
    low, high = split_bands(tone(2000.0))
    assert energy_db(high) < energy_db(low) - 40
    low, high = split_bands(tone(16000.0))
    assert energy_db(low) < energy_db(high) - 40


def test_band_split_keeps_shape_and_dtype(stereo: np.ndarray) -> None:
    for wav in (stereo, stereo[0], stereo[:, :777]):
        low, high = split_bands(wav)
        assert low.shape == high.shape == wav.shape
        assert low.dtype == high.dtype == np.float32
    low, high = split_bands(torch.from_numpy(stereo))
    assert low.shape == stereo.shape and isinstance(low, np.ndarray)
    assert split_bands(stereo.astype(np.float64))[0].dtype == np.float64


# ----------------------------------------------------------------- edge cases


def test_short_signals_are_zero_padded_and_finite(mono: np.ndarray, stereo: np.ndarray) -> None:
    est, ref = add_noise(mono[:500], -20, np.random.default_rng(12)), mono[:500]
    got = band_metrics(est, ref)
    assert all(math.isfinite(v) and v > 0 for v in got.values())
    padded = [np.pad(x, (0, 2048 - 500)) for x in (est, ref)]
    assert stft_distance(est, ref) == pytest.approx(stft_distance(*padded), rel=1e-6)
    assert lsd(est, ref) == pytest.approx(lsd(*padded), rel=1e-6)
    short = stereo[:, :500]
    assert all(math.isfinite(v) for v in stereo_metrics(short[::-1], short).values())


def test_silent_reference_gives_finite_values(mono: np.ndarray, stereo: np.ndarray) -> None:
    got = band_metrics(mono, np.zeros_like(mono))
    assert all(math.isfinite(v) and v > 0 for v in got.values())
    silent = np.zeros_like(stereo)
    assert all(math.isfinite(v) for v in stereo_metrics(stereo, silent).values())
    assert all(v == 0.0 for v in band_metrics(silent, silent).values())


@pytest.mark.parametrize("fn", [stft_distance, mel_distance, lsd, band_metrics, stereo_metrics])
def test_shape_mismatch_raises(stereo: np.ndarray, fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"\(2, 44100\).*\(2, 44000\)"):
        fn(stereo, stereo[:, :44000])
    with pytest.raises(ValueError):
        fn(stereo[0], stereo)


def test_rejects_three_dimensional_input(stereo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="(T,)"):
        lsd(stereo[None], stereo[None])


# ---------------------------------------------------------- docs and visqol


def test_all_metrics_documents_every_key(mono: np.ndarray, stereo: np.ndarray) -> None:
    keys = set(band_metrics(mono[:4096], mono[:4096])) | set(stereo_metrics(stereo[:, :4096], stereo[:, :4096]))
    assert len(keys) == 9 + 27
    assert keys <= set(ALL_METRICS)
    assert "visqol" in ALL_METRICS
    for key, doc in ALL_METRICS.items():
        assert doc and "\n" not in doc, key


def test_visqol_is_none_without_the_package(mono: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "visqol", None)  # makes `import visqol` raise ImportError
    metrics._visqol_api.cache_clear()
    try:
        assert metrics.visqol(mono, mono) is None
    finally:
        metrics._visqol_api.cache_clear()


def test_visqol_scores_a_low_passed_signal_below_the_original(mono: np.ndarray) -> None:
    if not metrics.visqol_available():
        pytest.skip("optional: pip install -e '.[visqol]'")
    low = sosfiltfilt(butter(8, 4000, fs=44100, output="sos"), mono).astype(np.float32)
    assert metrics.visqol(low, mono) + 1.0 < metrics.visqol(mono, mono) <= 5.0
