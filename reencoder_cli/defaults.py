"""The weights each command uses unless told otherwise, and how to train them.

No heavy imports: the command line reads this at start-up.
"""

from __future__ import annotations

UPSAMPLE_MODEL = "bwe-s-l1"
"""Default of ``upsample``: the bandwidth module that measures best from every input rate
(BENCHMARKS.md: from 22.05, 16 and 8 kHz ahead of the others on every metric)."""

UPSAMPLE_HELP = f"{UPSAMPLE_MODEL}, bwe-s, bwe-m, flow-s or a weights path"
"""What ``upsample``'s model may be, for help texts."""


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

UPMIX_TEMPERATURE = 0.5
"""How far a random image strays from the training music's typical one, in units of the
training styles' spread: at 1 as far as real music does, and a wrong image costs more L/R
distance than none (8.9% over dual mono on validation music against 3.1% at 0.5 and 1.1% at
0, BENCHMARKS.md)."""

UPMIX_TEMPERATURE_HELP = (
    "how far a random image strays from the training music's typical one "
    "(0: the typical image for every seed, 1: as far as real music)"
)

TRAINING: dict[str, tuple[str, str]] = {
    "autoencoder": ("autoencoder", "autoencoder"),
    "bwe-s-l1": ("bwe", "module bwe --l1-only"),
    "flow-s": ("flow", "module flow"),
    UPMIX_MODEL: ("stereo", "module stereo"),
}
"""Default weights name -> (kind, arguments of ``reencoder train`` that make it)."""
