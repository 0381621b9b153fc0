"""Facts every level shares; no imports, so any module may read them."""

from __future__ import annotations

VERSION = "0.1.0"
"""The package's version (``reencoder_cli.__version__``, the ``software`` tag of written files)."""

SAMPLE_RATE = 44100
"""The models' rate in Hz: audio is resampled to it before the encode and leaves the decode at it."""
