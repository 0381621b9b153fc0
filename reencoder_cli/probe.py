"""What an audio file holds, read once without the models (``reencoder probe``, like soxi or ffprobe).

Besides the header (rate, channels, sample type, tags) it measures the decoded samples:
length, peak and RMS level, and the band the content fills (``bandwidth``), so a folder
can be triaged before ``upsample`` (which files are band-limited, and from which rate).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from reencoder_cli import audio
from reencoder_cli.bandwidth import Spectrum


@dataclass(frozen=True)
class Probe:
    """One file's facts.

    Attributes:
        input: the path as given.
        format: libsndfile's container name ("WAV", "FLAC", "OGG"...).
        subtype: libsndfile's sample type ("PCM_16", "VORBIS"...).
        sample_rate: in Hz.
        channels: 1 or 2.
        seconds: decoded length.
        peak_dbfs: the largest magnitude, dB re full scale (-inf for silence).
        rms_dbfs: the RMS over all channels, dB re full scale (-inf for silence).
        content_rate: the rate whose Nyquist frequency is the content's band edge (the file's
            rate when no cut was found); ``upsample --from-rate auto`` uses this.
        tags: the text tags (title, artist...).
    """

    input: str
    format: str
    subtype: str
    sample_rate: int
    channels: int
    seconds: float
    peak_dbfs: float
    rms_dbfs: float
    content_rate: int
    tags: dict[str, str]

    def record(self) -> dict[str, object]:
        """The JSON-serialisable record (levels of silence as None)."""
        out = asdict(self)
        for key in ("peak_dbfs", "rms_dbfs"):
            out[key] = None if math.isinf(out[key]) else round(out[key], 2)
        return out


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def probe(source: audio.Source) -> Probe:
    """Read ``source`` once (blocks; memory: one block) and describe it.

    Raises:
        AudioError: unreadable, empty, more than 2 channels, or NaN/Inf samples.
    """
    with audio.AudioReader(source) as reader:
        spectrum = Spectrum(reader.sample_rate)
        frames, peak, energy = 0, 0.0, 0.0
        for block in spectrum.observe(reader.blocks()):
            frames += block.shape[1]
            peak = max(peak, float(np.abs(block).max()))
            energy += float(np.square(block, dtype=np.float64).sum())
        return Probe(
            input=reader.name,
            format=reader.format,
            subtype=reader.meta.subtype or "",
            sample_rate=reader.sample_rate,
            channels=reader.channels,
            seconds=frames / reader.sample_rate,
            peak_dbfs=_dbfs(peak),
            rms_dbfs=_dbfs(math.sqrt(energy / (frames * reader.channels))),
            content_rate=spectrum.content_rate(),
            tags=dict(reader.meta.tags),
        )
