"""The waveform post-steps: the numpy Kaiser low-pass and FFT convolution against scipy, the crossover,
the parametric stereo image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin, kaiserord, welch

from reencoder_cli.dsp import post
from reencoder_cli.engine.ops import parse_op
from reencoder_cli.engine.poststeps import post_margin


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100])
def test_lowpass_fir_matches_scipy_kaiser_design(rate: int) -> None:
    nyquist = rate / 2
    cutoff, width = post.CROSSOVER_AT * nyquist, post.CROSSOVER_WIDTH * nyquist
    taps, beta = kaiserord(80.0, width / 22050)
    expected = firwin(taps | 1, cutoff, window=("kaiser", beta), fs=44100)
    h = post.lowpass_fir(cutoff, width, 44100)
    assert h.shape == expected.shape and len(h) % 2 == 1
    assert np.abs(h - expected).max() < 1e-7


@pytest.mark.parametrize("length", [1, 7, 403, 5000, 123457])
def test_fft_convolve_is_linear_convolution(length: int) -> None:
    rng = np.random.default_rng(length)
    x = rng.standard_normal((2, length)).astype(np.float32)
    h = post.lowpass_fir(3000.0, 400.0, 44100)
    got = post.fft_convolve(x, h)
    expected = np.stack([np.convolve(row, h) for row in x])
    assert got.shape == expected.shape == (2, length + len(h) - 1)
    assert np.abs(got - expected).max() < 1e-5


def test_crossover_splits_the_bands() -> None:
    t = np.arange(44100) / 44100
    low, high = np.sin(2 * np.pi * 1000 * t)[None], np.sin(2 * np.pi * 9000 * t)[None]
    both = (low + high).astype(np.float32)
    assert np.array_equal(post.crossover(both, both, 5000, 500, 44100), both)
    mid = slice(2000, -2000)  # away from the zero-padded edges
    kept_low = post.crossover(both, np.zeros_like(both), 5000, 500, 44100, block=10000)
    assert np.abs(kept_low[:, mid] - low[:, mid]).max() < 1e-3
    kept_high = post.crossover(np.zeros_like(both), both, 5000, 500, 44100, block=10000)
    assert np.abs(kept_high[:, mid] - high[:, mid]).max() < 1e-3


def test_post_margin_follows_the_chain() -> None:
    upmix, upsample = parse_op("upmix"), parse_op("upsample")
    assert post_margin([parse_op("upmix:side=decoded")], 44100, True, True) == 0
    assert post_margin([upmix], 44100, True, True) == post.IMAGE_MARGIN > 0
    assert post_margin([upmix], 44100, True, False) == 0
    assert post_margin([upsample, upmix], 22050, True, True) == post.margin_for(22050) + post.IMAGE_MARGIN
    assert post_margin([upsample], 22050, False, True) == 0
    assert post_margin([upsample], 22050, True, True) == post.margin_for(22050) > 0
    # the op's stated rate, not the file's, sets the crossover and so the context it needs
    assert post_margin([parse_op("upsample:rate=8000")], 44100, True, True) == post.margin_for(8000)
    assert post.margin_for(8000) > post.margin_for(44100)


def _tone_bands(seconds: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two band-limited noise sources, one below 1 kHz and one above 4 kHz: (1, T) each."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal((2, int(seconds * 44100))), axis=-1)
    freqs = np.fft.rfftfreq(int(seconds * 44100), 1 / 44100)
    spec[0, freqs > 1000], spec[1, freqs < 4000] = 0, 0
    low, high = np.fft.irfft(spec, n=int(seconds * 44100), axis=-1).astype(np.float32) * 0.05
    return low[None], high[None]


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / 44100)
    return float((np.abs(np.fft.rfft(x, axis=-1)) ** 2)[..., (freqs > lo) & (freqs < hi)].sum())


def test_parametric_stereo_keeps_the_mid_and_places_panned_sources() -> None:
    low, high = _tone_bands()
    stereo = np.concatenate([0.9 * low + 0.2 * high, 0.1 * low + 1.8 * high])  # low left, high right
    mono = stereo.mean(0, keepdims=True)
    rng = np.random.default_rng(1)
    inner = slice(4096, -4096)  # away from the edges' half frames
    exact = post.parametric_stereo(mono, stereo)
    assert np.linalg.norm(exact[:, inner] - stereo[:, inner]) < 1e-3 * np.linalg.norm(stereo[:, inner])
    decoded = stereo + 0.003 * rng.standard_normal(stereo.shape).astype(np.float32)  # the decoder's noise
    out = post.parametric_stereo(mono, decoded)
    assert out.shape == stereo.shape and out.dtype == np.float32
    assert np.abs(out.mean(0) - mono[0]).max() < 1e-6
    assert np.linalg.norm(out[:, inner] - stereo[:, inner]) < 0.15 * np.linalg.norm(stereo[:, inner])
    # each band lands where the model put it: the left / right energy ratio of each source's band
    for lo, hi in ((20, 1000), (4000, 20000)):
        db_out, db_model = (
            10 * np.log10(_band_energy(x[0, inner], lo, hi) / _band_energy(x[1, inner], lo, hi)) for x in (out, decoded)
        )
        assert abs(db_out - db_model) < 1.0 and abs(db_model) > 10


@pytest.mark.parametrize(
    ("side_db", "min_side_db", "expected_db"), [(-6, -10, -6), (-20, -np.inf, -20), (-20, -10, -10)]
)
def test_parametric_stereo_carries_the_side_energy_with_the_input_only(
    side_db: float, min_side_db: float, expected_db: float
) -> None:
    low, high = _tone_bands()
    mono = low + high
    wide = 10 ** (side_db / 20) * sum(_tone_bands(seed=2))  # another take of the same sound
    decoded = np.concatenate([mono + wide, mono - wide])  # unpanned, a decorrelated side
    out = post.parametric_stereo(mono, decoded, min_side_db=min_side_db)
    side = (out[0] - out[1]) / 2
    inner = slice(4096, -4096)
    for lo, hi in ((100, 1000), (5000, 10000)):
        level = 10 * np.log10(_band_energy(side[inner], lo, hi) / _band_energy(mono[0, inner], lo, hi))
        assert abs(level - expected_db) < 1.5  # the decoded side's level, or the floor
    # nothing outside the input's bands: the side is made of the input, not of the decoded noise
    assert _band_energy(side[inner], 1500, 3000) < 1e-3 * _band_energy(side[inner], 100, 1000)


def test_parametric_ambience_does_not_colour_the_channels() -> None:
    """The ambience is the input's quadrature copy: per bin, |L| and |R| are |mono| times the
    band's smooth gain, where a delayed copy would comb-filter them (dips and peaks of several dB)."""
    mono = np.random.default_rng(3).standard_normal((1, 3 * 44100)).astype(np.float32) * 0.05
    wide = np.random.default_rng(4).standard_normal((1, 3 * 44100)).astype(np.float32) * 0.025
    out = post.parametric_stereo(mono, np.concatenate([mono + wide, mono - wide]))
    ripple = {}
    for name, x in (("left", out[:1]), ("right", out[1:]), ("comb", mono + 0.5 * np.roll(mono, 529))):
        freqs, gain = welch(x[0], 44100, nperseg=8192)
        band = (freqs > 2000) & (freqs < 4000)
        ripple[name] = float(np.std(10 * np.log10(gain[band] / welch(mono[0], 44100, nperseg=8192)[1][band])))
    assert ripple["left"] < 0.5 and ripple["right"] < 0.5 < 2.0 < ripple["comb"]


def test_parametric_side_is_never_louder_than_the_mid() -> None:
    low, high = _tone_bands()
    mono = low + high
    decoded = np.concatenate([mono, -mono])  # a decoded mid of zero: all side
    out = post.parametric_stereo(mono, decoded)
    side, mid = (out[0] - out[1]) / 2, (out[0] + out[1]) / 2
    inner = slice(4096, -4096)
    assert _band_energy(side[inner], 20, 20000) <= 1.05 * _band_energy(mid[inner], 20, 20000)
    assert post.parametric_stereo(mono[:, :10], decoded[:, :10]).shape == (2, 10)


def _stereo_of_width(side_db: float, seed: int = 5) -> np.ndarray:
    """(2, T) noise-like music whose side sits ``side_db`` under its mid in every band."""
    mid, side = (sum(_tone_bands(seed=seed + k)) for k in (0, 10))
    return post.from_mid_side(mid, 10 ** (side_db / 20) * side)


def test_band_widths_measure_a_stereo_file_block_by_block() -> None:
    wav = _stereo_of_width(-12.0)
    powers = post.band_powers(wav)
    whole = post.band_widths(powers)
    blocks = post.band_widths(sum(post.band_powers(wav[:, i : i + 30000]) for i in range(0, wav.shape[1], 30000)))
    heard = powers[0] > 1e-4 * powers[0].max()  # not the 1-4 kHz gap, where only leakage lies
    assert 15 < heard.sum() < len(heard)
    assert np.allclose(10 * np.log10(whole[heard]), 10 * np.log10(blocks[heard]), atol=0.5)
    assert np.allclose(10 * np.log10(whole[heard]), -12.0, atol=1.5)
    assert np.allclose(post.band_widths(np.array([[1.0, 1.0, 0.0], [0.1, 0.01, 0.0]])), [0.1, 0.01, 0.055])
    assert post.band_widths(np.zeros((2, 5))).tolist() == [0.0] * 5


@pytest.mark.parametrize("style_mix", [1.0, 0.5])
def test_parametric_stereo_takes_the_width_a_reference_asks_for(style_mix: float) -> None:
    """A reference sets the side level whatever the model decoded (and the floor), ``style_mix``
    moving between the two in dB; the model still decides the panning within that width."""
    low, high = _tone_bands()
    mono = low + high
    wide = 10 ** (-25 / 20) * sum(_tone_bands(seed=2))
    decoded = np.concatenate([mono + wide, mono - wide])  # the model: 25 dB under the mid, floored at -10
    inner = slice(4096, -4096)
    levels = {}
    for db in (-20.0, -4.0):
        reference = post.band_widths(post.band_powers(_stereo_of_width(db)))
        out = post.parametric_stereo(mono, decoded, reference=reference, style_mix=style_mix)
        assert np.abs(out.mean(0) - mono[0]).max() < 1e-6
        side = (out[0] - out[1]) / 2
        levels[db] = 10 * np.log10(_band_energy(side[inner], 100, 10000) / _band_energy(mono[0, inner], 100, 10000))
        expected = style_mix * db + (1 - style_mix) * -10.0  # the model's share is the floor here
        assert abs(levels[db] - expected) < 1.5, (db, levels[db])
    assert levels[-4.0] - levels[-20.0] > 0.9 * 16 * style_mix


def test_a_reference_narrower_than_the_models_panning_narrows_it() -> None:
    low, high = _tone_bands()
    stereo = np.concatenate([1.9 * low + high, 0.1 * low + high])  # the low band panned hard left
    mono = stereo.mean(0, keepdims=True)
    reference = np.full(len(post.third_octaves(post.IMAGE_FFT, 44100)), 10 ** (-20 / 10), np.float32)
    out = post.parametric_stereo(mono, stereo, reference=reference)
    side = (out[0] - out[1]) / 2
    inner = slice(4096, -4096)
    level = 10 * np.log10(_band_energy(side[inner], 100, 900) / _band_energy(mono[0, inner], 100, 900))
    assert abs(level + 20) < 1.5  # not the model's -0.4 dB
    assert _band_energy(out[0, inner], 100, 900) > _band_energy(out[1, inner], 100, 900)  # still to the left
