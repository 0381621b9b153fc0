"""The waveform post-steps after the single decode: whether a chain gets them, the decoded
context they need, and applying them to a decoded region (``post`` does the signal work)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.dsp import post
from reencoder_cli.engine.ops import OpSpec, input_rate, style_mix


def post_steps_apply(specs: Sequence[OpSpec], keep_lowband: bool, keep_mid: bool) -> bool:
    """Whether ``post_process`` will change anything for this chain."""
    names = {s.name for s in specs}
    if not names or not names <= {"upsample", "upmix"}:
        return False
    return ("upsample" in names and keep_lowband) or ("upmix" in names and keep_mid)


def post_process(
    out: np.ndarray,
    ref: np.ndarray,
    specs: Sequence[OpSpec],
    source_rate: int,
    keep_lowband: bool = True,
    keep_mid: bool = True,
    sample_rate: int = SAMPLE_RATE,
    reference_width: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The waveform post-steps after the single decode.

    They apply when the chain holds only ``upsample``/``upmix`` ops (with latent arithmetic
    in the chain the input is no longer a valid reference): with upsample, the band below
    the input's Nyquist is the input (``keep_lowband``); with upmix, the output's mid is
    the mono input (``keep_mid``), plus the model's high band when the chain also upsamples,
    and the side is made as the upmix op's ``side`` says (``post.parametric_stereo``: the
    model's width, at least ``min_side`` dB re the mid, mixed with the reference's by
    ``style_mix``; or the decoded side).

    Args:
        out: (C', T) decoded output.
        ref: (C, T) the input at 44.1 kHz (mono when the chain upmixes).
        specs: the chain.
        source_rate: the input's original rate.
        keep_lowband: keep the input's band (upsample).
        keep_mid: keep the input as the mid (upmix).
        sample_rate: rate of ``out`` and ``ref``.
        reference_width: the upmix reference's ``Pipeline.reference_width``, if it has one.

    Returns:
        The output and the names of the post-steps applied.
    """
    if not post_steps_apply(specs, keep_lowband, keep_mid):
        return out, ()
    rate = lowband_rate(specs, source_rate, keep_lowband, keep_mid)
    steps: list[str] = []
    upmix = upmix_op(specs)
    if keep_mid and upmix is not None:
        mid = ref
        if rate is not None:
            mid = post.keep_lowband(mid, post.mid_side(out)[0], rate, sample_rate)
            steps.append("keep_lowband")
        if upmix.params["side"] == "parametric":
            mix = style_mix(upmix.params)
            out = post.parametric_stereo(mid, out, sample_rate, upmix.params["min_side"], reference_width, mix)
            steps += ["keep_mid", "parametric side"]
        else:
            out = post.keep_mid(mid, out)
            steps.append("keep_mid")
    elif rate is not None:
        out = post.keep_lowband(ref, out, rate, sample_rate)
        steps.append("keep_lowband")
    return out, tuple(steps)


def lowband_rate(specs: Sequence[OpSpec], source_rate: int, keep_lowband: bool, keep_mid: bool) -> int | None:
    """The input rate whose band ``post_process`` keeps (its crossover's rate); None when it keeps none."""
    upsample = next((s for s in specs if s.name == "upsample"), None)
    if upsample is None or not keep_lowband or not post_steps_apply(specs, keep_lowband, keep_mid):
        return None
    return input_rate(upsample, source_rate)


def post_margin(
    specs: Sequence[OpSpec], source_rate: int, keep_lowband: bool, keep_mid: bool, sample_rate: int = SAMPLE_RATE
) -> int:
    """Samples of decoded context each side that ``post_process`` needs for an exact result."""
    rate = lowband_rate(specs, source_rate, keep_lowband, keep_mid)
    margin = 0 if rate is None else post.margin_for(rate, sample_rate)
    upmix = upmix_op(specs)
    parametric = upmix is not None and upmix.params["side"] == "parametric"
    if keep_mid and parametric and post_steps_apply(specs, keep_lowband, keep_mid):
        margin += post.IMAGE_MARGIN  # its mid must be exact over the image's context
    return margin


def upmix_op(specs: Sequence[OpSpec]) -> OpSpec | None:
    """The chain's upmix op, whose ``side`` and ``min_side`` say how keep-mid makes the side."""
    return next((s for s in specs if s.name == "upmix"), None)
