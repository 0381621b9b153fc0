"""The weights each command uses unless told otherwise, and how to train them.

No heavy imports: the command line reads this at start-up.
"""

from __future__ import annotations

UPSAMPLE_MODEL = "bwe-s-l1"
"""Default of ``upsample``: the bandwidth module that measures best (BENCHMARKS.md)."""

UPMIX_MODEL = "stereo-s"
"""Default of ``upmix``."""

TRAINING: dict[str, tuple[str, str]] = {
    "autoencoder": ("autoencoder", "autoencoder"),
    UPSAMPLE_MODEL: ("bwe", "module bwe --l1-only"),
    UPMIX_MODEL: ("stereo", "module stereo"),
}
"""Default weights name -> (kind, arguments of ``reencoder train`` that make it)."""
