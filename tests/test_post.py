"""The waveform post-steps: the numpy Kaiser low-pass and FFT convolution against scipy, the crossover."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin, kaiserord

from reencoder_cli import post
from reencoder_cli.ops import parse_op
from reencoder_cli.pipeline import post_margin


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
    assert post_margin([upmix], 44100, True, True) == 0
    assert post_margin([upsample], 22050, False, True) == 0
    assert post_margin([upsample], 22050, True, True) == post.margin_for(22050) > 0
    # the op's stated rate, not the file's, sets the crossover and so the context it needs
    assert post_margin([parse_op("upsample:rate=8000")], 44100, True, True) == post.margin_for(8000)
    assert post.margin_for(8000) > post.margin_for(44100)
