"""What a file holds, read once without the models (``reencoder probe``, like soxi or ffprobe).

For audio, besides the header (rate, channels, sample type, tags) it measures the decoded
samples: length, peak and RMS level, and the band the content fills (``bandwidth``), so a
folder can be triaged before ``upsample`` (which files are band-limited, and from which
rate). For a ``.latent`` file it reads what the file records: its shape, the audio it
stands for, the autoencoder and latent space that made it, and the ops applied so far.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.dsp.bandwidth import Spectrum
from reencoder_cli.io import audio

if TYPE_CHECKING:  # torch stays unimported for audio files
    from reencoder_cli.io.modelfile import AEId


@dataclass(frozen=True)
class Probe:
    """One file's facts.

    Attributes:
        input: the path as given.
        format: libsndfile's container name ("WAV", "FLAC", "OGG"...).
        subtype: libsndfile's sample type ("PCM_16", "VORBIS"...).
        sample_rate: in Hz.
        channels: as many as the file has.
        seconds: decoded length.
        peak_dbfs: the largest magnitude, dB re full scale (-inf for silence).
        rms_dbfs: the RMS over all channels, dB re full scale (-inf for silence).
        content_rate: the rate whose Nyquist frequency is the content's band edge (the file's
            rate when no cut was found); ``upsample --from-rate auto`` uses this.
        tags: the text tags (title, artist...).
        nonfinite: NaN or Inf samples (levels and band are measured with them as zeros).
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
    nonfinite: int = 0

    def record(self) -> dict[str, object]:
        """The JSON-serialisable record (levels of silence as None)."""
        out = asdict(self)
        for key in ("peak_dbfs", "rms_dbfs"):
            out[key] = None if math.isinf(out[key]) else round(out[key], 2)
        return out

    def line(self) -> str:
        """One line for people: ``name: 44100 Hz, 2 ch, FLAC PCM_16, 0:10.0, peak ..., content ...``."""
        band = (
            f"content up to {self.content_rate // 2} Hz (upsample --from-rate {self.content_rate})"
            if self.content_rate < self.sample_rate
            else "content fills the band"
        )
        bad = f", {self.nonfinite} NaN/Inf samples (refused by every other command)" if self.nonfinite else ""
        return (
            f"{self.input}: {self.sample_rate} Hz, {self.channels} ch, {self.format} {self.subtype}, "
            f"{_clock(self.seconds)}, peak {self.peak_dbfs:.1f} dBFS, RMS {self.rms_dbfs:.1f} dBFS, {band}{bad}"
        )


@dataclass(frozen=True)
class LatentProbe:
    """One ``.latent`` file's facts.

    Attributes:
        input: the path as given.
        format: the file format's name and version.
        channels: audio channels (one latent each).
        latent_dim: channels of each latent (D).
        frames: latent frames (F).
        seconds: length of the audio it decodes to.
        source_rate: the rate of the audio it was encoded from.
        autoencoder: id, sha256 and latent space of the autoencoder that made it.
        ops: the ops applied so far (``name:k=v,...``).
        subtype: the original input's sample type (the decoded output inherits it).
        tags: the original input's text tags.
    """

    input: str
    format: str
    channels: int
    latent_dim: int
    frames: int
    seconds: float
    source_rate: int
    autoencoder: AEId
    ops: list[str]
    subtype: str
    tags: dict[str, str]

    def record(self) -> dict[str, object]:
        """The JSON-serialisable record (the autoencoder as ``{id, sha256, latent_space}``)."""
        return asdict(self)

    def line(self) -> str:
        """One line for people: shape, length, source rate, autoencoder, ops."""
        return (
            f"{self.input}: reencoder latent, {self.channels} ch x {self.latent_dim} x {self.frames} frames, "
            f"{_clock(self.seconds)} of audio from {self.source_rate} Hz, "
            f"autoencoder {self.autoencoder}, ops: {', '.join(self.ops) or 'none'}"
        )


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def probe_latent(path: str) -> LatentProbe:
    """Describe a ``.latent`` file (this imports torch, which reads it).

    Raises:
        LatentFileError: not a readable latent file.
    """
    from reencoder_cli.io.latentfile import FORMAT, load_latent

    latent = load_latent(path)
    return LatentProbe(
        input=path,
        format=FORMAT,
        channels=latent.channels,
        latent_dim=int(latent.z.shape[1]),
        frames=int(latent.z.shape[2]),
        seconds=latent.length / latent.sample_rate,
        source_rate=latent.source_rate,
        autoencoder=latent.autoencoder,
        ops=list(latent.ops),
        subtype=latent.meta.subtype or "",
        tags=dict(latent.meta.tags),
    )


def probe(source: audio.PathOrStream) -> Probe:
    """Read ``source`` once (blocks; memory: one block) and describe it.

    Any readable file is described, whatever its channel count and even with NaN/Inf
    samples (counted, and taken as zeros for the levels and the band).

    Raises:
        AudioError: unreadable or empty.
    """
    with audio.AudioReader(source, check=False) as reader:
        spectrum = Spectrum(reader.sample_rate)
        frames, peak, energy, nonfinite = 0, 0.0, 0.0, 0

        def finite(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            nonlocal nonfinite
            for block in blocks:
                bad = ~np.isfinite(block)
                if bad.any():
                    nonfinite += int(bad.sum())
                    block = np.where(bad, np.float32(0), block)
                yield block

        for block in spectrum.observe(finite(reader.blocks())):
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
            nonfinite=nonfinite,
        )
