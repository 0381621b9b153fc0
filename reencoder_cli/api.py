"""Python API on arrays: ``upsample`` and ``upmix`` for numpy arrays or torch tensors."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

from reencoder_cli.defaults import UPMIX_MIN_SIDE_DB, UPMIX_MODEL, UPMIX_SIDE, UPMIX_TEMPERATURE, UPSAMPLE_MODEL
from reencoder_cli.engine.ops import OpSpec, make_op
from reencoder_cli.engine.pipeline import Pipeline

Audio = TypeVar("Audio", np.ndarray, torch.Tensor)


@lru_cache(maxsize=4)
def _pipeline(autoencoder: str, device: str) -> Pipeline:
    return Pipeline(autoencoder=autoencoder, device=device)


def _run(
    wav: Audio,
    sample_rate: int,
    op: OpSpec,
    seed: int,
    keep_lowband: bool,
    keep_mid: bool,
    autoencoder: str,
    device: str,
) -> tuple[Audio, int]:
    if isinstance(wav, torch.Tensor):
        out, rate = _run(wav.detach().cpu().numpy(), sample_rate, op, seed, keep_lowband, keep_mid, autoencoder, device)
        return torch.from_numpy(out), rate
    array = np.asarray(wav)
    squeeze = array.ndim == 1
    array = array[None] if squeeze else array
    result = _pipeline(autoencoder, device).run(
        array.astype(np.float32), sample_rate, [op], seed=seed, keep_lowband=keep_lowband, keep_mid=keep_mid
    )
    return (result.wav[0] if squeeze and result.wav.shape[0] == 1 else result.wav), result.sample_rate


def upsample(
    wav: Audio,
    sample_rate: int,
    *,
    from_rate: int | str | None = None,
    model: str = UPSAMPLE_MODEL,
    steps: int = 1,
    seed: int = 0,
    keep_lowband: bool = True,
    autoencoder: str = "autoencoder",
    device: str = "auto",
) -> tuple[Audio, int]:
    """Bandwidth extension to 44.1 kHz.

    Args:
        wav: (T,) or (C, T), C = 1 or 2, numpy or torch.
        sample_rate: its rate.
        from_rate: the rate its content was band-limited to, ``0`` for ``sample_rate`` itself; by
            default detected from the spectrum (``reencoder_cli.dsp.bandwidth``), as the CLI does.
        model: a ``bwe`` or ``flow`` weights name or path.
        steps: Euler steps for flow models.
        seed: noise seed for flow models.
        keep_lowband: keep the input below its Nyquist (see ``post.keep_lowband``).
        autoencoder: weights name of the autoencoder.
        device: auto, cpu, cuda or cuda:N.

    Returns:
        The same type and layout as ``wav`` at 44.1 kHz, and 44100.
    """
    op = make_op("upsample", model=model, rate=from_rate, steps=steps)
    return _run(wav, sample_rate, op, seed, keep_lowband, True, autoencoder, device)


def upmix(
    wav: Audio,
    sample_rate: int,
    *,
    seed: int = 0,
    width_from: str | None = None,
    style_mix: float | None = None,
    model: str = UPMIX_MODEL,
    keep_mid: bool = True,
    side: str = UPMIX_SIDE,
    min_side: float = UPMIX_MIN_SIDE_DB,
    temperature: float = UPMIX_TEMPERATURE,
    autoencoder: str = "autoencoder",
    device: str = "auto",
) -> tuple[Audio, int]:
    """Mono to stereo.

    Args:
        wav: (T,) or (1, T) mono (stereo is downmixed first), numpy or torch.
        sample_rate: its rate.
        seed: style seed: the same seed gives the same output.
        width_from: a stereo file whose image to borrow.
        style_mix: 0 = random style, 1 = the reference's (default 1 with ``width_from``).
        model: a ``stereo`` weights name.
        keep_mid: make (L + R) / 2 equal the input exactly.
        side: with ``keep_mid``, "parametric" (``post.parametric_stereo``) or "decoded".
        min_side: with the parametric side, its least level per band in dB re the mid.
        temperature: how far the random image strays from the typical one (0 to 1).
        autoencoder: weights name of the autoencoder.
        device: auto, cpu, cuda or cuda:N.

    Returns:
        (2, T') stereo at 44.1 kHz, same type as ``wav``, and 44100.
    """
    op = make_op(
        "upmix",
        model=model,
        side=side,
        min_side=min_side,
        temperature=temperature,
        width_from=width_from,
        style_mix=style_mix,
    )
    return _run(wav, sample_rate, op, seed, True, keep_mid, autoencoder, device)
