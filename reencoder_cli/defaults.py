"""The weights each command uses unless told otherwise, and how to train them.

No heavy imports: the command line reads this at start-up.
"""

from __future__ import annotations

UPSAMPLE_MODEL = "auto"
"""Default of ``upsample``: per input, ``upsample_model`` of the rate its content ends at."""

UPSAMPLE_AUTO = ("bwe-s", "bwe-s-l1")
"""The files ``auto`` chooses from: the first for content up to ``UPSAMPLE_AUTO_SPLIT`` Hz."""

UPSAMPLE_AUTO_SPLIT = 16000
"""The content rate where ``auto`` changes file."""

UPSAMPLE_HELP = (
    f"auto ({UPSAMPLE_AUTO[0]} for content up to {UPSAMPLE_AUTO_SPLIT // 1000} kHz, else {UPSAMPLE_AUTO[1]}), "
    "bwe-s-l1, bwe-s, bwe-m, flow-s or a path"
)
"""What ``upsample``'s model may be, for help texts."""


def upsample_model(rate: float) -> str:
    """The bandwidth module that measures best from content band-limited to ``rate`` Hz
    (BENCHMARKS.md): the regression with its latent discriminator up to 16 kHz, which leads
    every row from 8 kHz and from 16 kHz ties the L1 regression on full-band mel-D, is 1.5%
    behind on high-band LSD and 13% ahead on high-band STFT-D; the L1 regression above,
    which leads every metric from 22.05 kHz."""
    return UPSAMPLE_AUTO[0] if rate <= UPSAMPLE_AUTO_SPLIT else UPSAMPLE_AUTO[1]


UPMIX_MODEL = "stereo-s"
"""Default of ``upmix``."""

UPMIX_SIDES = ("parametric", "decoded")
"""How ``upmix --keep-mid`` makes the side; the first is the default (BENCHMARKS.md)."""

UPMIX_SIDE = UPMIX_SIDES[0]

UPMIX_SIDE_HELP = (
    "with keep-mid: parametric (the input panned per band by the model's image, plus its "
    "quadrature copy at its side level) or decoded (the side of the decoded channels)"
)

UPMIX_MIN_SIDE_DB = -10.0
"""Least side level of the parametric side, dB re the mid, per band: the decoder's side is
about 15 dB too quiet even from the true L and R latents; -10 dB scored best on training
music (BENCHMARKS.md)."""

UPMIX_MIN_SIDE_HELP = "with the parametric side: least side level per band, dB re the mid (-inf: none)"

TRAINING: dict[str, tuple[str, str]] = {
    "autoencoder": ("autoencoder", "autoencoder"),
    "bwe-s-l1": ("bwe", "module bwe --l1-only"),
    "flow-s": ("flow", "module flow"),
    UPMIX_MODEL: ("stereo", "module stereo"),
}
"""Default weights name -> (kind, arguments of ``reencoder train`` that make it)."""
