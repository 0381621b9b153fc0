"""Audio input: read, inspect, resample and downmix waveforms (``audio_write`` writes them).

Waveforms are float32 numpy arrays shaped ``(C, T)`` with ``C`` = 1 or 2. Reading goes
through libsndfile (``soundfile``) in blocks, so a header that lies about its length costs
nothing.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from reencoder_cli.errors import AudioError, UsageError

PathOrStream = str | os.PathLike[str] | BinaryIO

STDIO = "-"
BLOCK_FRAMES = 65536


@dataclass(frozen=True)
class SourceMeta:
    """What an output inherits from its input, as sox and ffmpeg do: the sample type and the text tags.

    Attributes:
        subtype: the input's libsndfile subtype ("PCM_24", "FLOAT", "VORBIS"...), or None.
        tags: the input's non-empty text tags (libsndfile's title, artist, album, date,
            comment, ... ; ``software`` is left out, the writer sets its own), sorted by name.
    """

    subtype: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


def path_of(target: PathOrStream) -> str | None:
    """The path as a string, or None for a stream."""
    return os.fspath(target) if isinstance(target, (str, os.PathLike)) else None


def name_of(target: PathOrStream, stdio: str) -> str:
    """The name used in messages: the path as given, ``stdio`` for ``"-"``, or a stream's name."""
    path = path_of(target)
    if path is None:
        return str(getattr(target, "name", "<stream>"))
    return stdio if path == STDIO else path


def _seekable(source: PathOrStream) -> str | BinaryIO:
    """A path as a string; stdin or a non-seekable stream read fully into memory; else as is."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return io.BytesIO(sys.stdin.buffer.read()) if path == STDIO else path
    return source if source.seekable() else io.BytesIO(source.read())


def failure_reason(err: Exception) -> str:
    """The short reason libsndfile or the OS gives, without the file name."""
    if isinstance(err, sf.LibsndfileError):
        return err.error_string
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)


def _open(source: str | BinaryIO, name: str) -> sf.SoundFile:
    """Open for reading, turning libsndfile's refusal into an AudioError (decoders' own messages silenced)."""
    if isinstance(source, str) and not os.path.exists(source):
        raise AudioError(f"{name}: no such file")
    if isinstance(source, str) and os.path.isdir(source):
        raise AudioError(f"{name}: a folder with no audio file in it (-r/--recursive scans its sub-folders)")
    try:
        with _quiet_stderr():
            return sf.SoundFile(source)
    except sf.LibsndfileError as err:
        reason = failure_reason(err)
        if "possibly a pipe" in reason:  # what libsndfile says of a file no decoder took
            reason = "no decoder recognised its contents"
        raise AudioError(f"{name}: not a readable audio file ({reason})") from err


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence what C libraries print on file descriptor 2 (libmpg123's warnings on a junk MP3)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


DOWNMIX_CHANNELS = {"mono": 1, "stereo": 2}
_C = 1 / math.sqrt(2)  # -3 dB: ITU-R BS.775's weight of the centre and surround channels
# (left, right) weights of each channel of the usual layouts, in WAV (SMPTE) channel order; LFE left out
STEREO_DOWNMIX: dict[int, tuple[tuple[float, float], ...]] = {
    3: ((1, 0), (0, 1), (_C, _C)),  # L R C
    4: ((1, 0), (0, 1), (_C, 0), (0, _C)),  # L R Ls Rs (quad)
    5: ((1, 0), (0, 1), (_C, _C), (_C, 0), (0, _C)),  # 5.0
    6: ((1, 0), (0, 1), (_C, _C), (0, 0), (_C, 0), (0, _C)),  # 5.1
    7: ((1, 0), (0, 1), (_C, _C), (0, 0), (0.5, 0.5), (_C, 0), (0, _C)),  # 6.1: back centre to both
    8: ((1, 0), (0, 1), (_C, _C), (0, 0), (_C, 0), (0, _C), (_C, 0), (0, _C)),  # 7.1
}


def downmix_matrix(channels: int, to: str) -> np.ndarray:
    """The matrix that mixes ``channels`` down to ``to`` ("mono" or "stereo"): -> (1 or 2, channels) float32.

    Stereo is ITU-R BS.775's downmix (the centre and the surrounds at -3 dB, the LFE left
    out, no normalisation: a loud mix may exceed full scale, which the writer reports);
    mono is the mean of that stereo pair, or of the two channels of a stereo file.

    Raises:
        AudioError: a channel count with no known layout.
    """
    if channels == 2:
        stereo = np.eye(2)
    elif channels in STEREO_DOWNMIX:
        stereo = np.array(STEREO_DOWNMIX[channels], dtype=np.float64).T
    else:
        raise AudioError(f"no downmix known for {channels} channels")
    matrix = stereo.mean(axis=0, keepdims=True) if to == "mono" else stereo
    return matrix.astype(np.float32)


class AudioReader:
    """An open, checked input read block by block (memory: one block).

    Use as a context manager. ``"-"`` (stdin) and non-seekable streams are read into
    memory first, since libsndfile needs to seek.

    Attributes:
        name: the name used in messages.
        sample_rate: in Hz.
        channels: the channels ``blocks`` yields: 1 or 2 (after a downmix), any with ``check=False``.
        file_channels: the file's own channel count.
        frames: the length the header claims (may be wrong; reading never relies on it).
        format: libsndfile's container name ("WAV", "FLAC", "OGG"...).
        meta: the sample type and text tags an output inherits.

    Args:
        source: a path, ``"-"`` for stdin, or a binary stream.
        downmix: ``"mono"`` or ``"stereo"``: a file of more channels is downmixed as it is
            read (``downmix_matrix``); None refuses more than 2.
        check: refuse more than 2 channels (unless downmixed) and NaN/Inf samples; False
            reads any file as it is (``probe`` describes what it holds).

    Raises:
        AudioError: unreadable, or more channels than can be handled (at opening); NaN/Inf
            samples or a decoding failure (while reading); no samples at all (at the end of
            ``blocks``).
    """

    def __init__(self, source: PathOrStream, downmix: str | None = None, check: bool = True) -> None:
        self.name = name_of(source, "stdin")
        self._file = _open(_seekable(source), self.name)
        self.file_channels = int(self._file.channels)
        self._check = check
        self._matrix = None
        if downmix is not None and self.file_channels > DOWNMIX_CHANNELS[downmix]:
            try:
                self._matrix = downmix_matrix(self.file_channels, downmix)
            except AudioError:
                self._file.close()
                raise AudioError(f"{self.name}: {self.file_channels} channels; no downmix known for them") from None
        elif check and self.file_channels > 2:
            self._file.close()
            raise AudioError(
                f"{self.name}: {self.file_channels} channels; reencoder handles mono or stereo "
                "(--downmix stereo or mono mixes them down)"
            )
        self.sample_rate = int(self._file.samplerate)
        self.channels = self.file_channels if self._matrix is None else self._matrix.shape[0]
        self.frames = max(0, int(self._file.frames))
        self.format = str(self._file.format)
        tags = {k: v for k, v in self._file.copy_metadata().items() if v and k != "software"}
        self.meta = SourceMeta(self._file.subtype, tuple(sorted(tags.items())))

    def blocks(self, frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        """Checked blocks: (C, n) float32, n <= frames, all finite."""
        total = 0
        while True:
            try:
                block = self._file.read(frames, dtype="float32", always_2d=True)
            except sf.LibsndfileError as err:
                raise AudioError(f"{self.name}: not a readable audio file ({failure_reason(err)})") from err
            if not len(block):
                break
            if self._check and not np.isfinite(block).all():
                raise AudioError(f"{self.name}: contains NaN/Inf samples")
            total += len(block)
            yield np.ascontiguousarray(block.T) if self._matrix is None else self._matrix @ block.T
        if not total:
            raise AudioError(f"{self.name}: empty (0 samples)")

    def read(self) -> np.ndarray:
        """All samples: (C, T) float32, T >= 1, all finite."""
        return np.concatenate(list(self.blocks()), axis=1)

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def read_audio(source: PathOrStream) -> tuple[np.ndarray, int]:
    """Read an audio file (anything libsndfile reads) into a checked waveform.

    Args:
        source: a path, ``"-"`` for stdin, or a binary stream.

    Returns:
        ``(wav, sample_rate)`` with wav: (C, T) float32, C in {1, 2}, T >= 1, all finite.

    Raises:
        AudioError: unreadable, empty, more than 2 channels, or NaN/Inf samples.
    """
    with AudioReader(source) as reader:
        return reader.read(), reader.sample_rate


def resampled_length(frames: int, sr_in: int, sr_out: int) -> int:
    """Length after resampling: ``max(1, floor(frames * sr_out / sr_in + 1/2))`` for frames >= 1."""
    return max(1, (2 * frames * sr_out + sr_in) // (2 * sr_in))


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample with soxr's very-high-quality windowed-sinc filter.

    The length is fixed by :func:`resampled_length` (round half up, at least 1 sample)
    rather than soxr's own rule, which rounds inconsistently and can give 0 samples.

    Args:
        wav: (C, T) float32, T >= 1.
        sr_in: input sample rate in Hz.
        sr_out: output sample rate in Hz.

    Returns:
        (C, T') float32; ``wav`` itself when the rates are equal.

    Raises:
        UsageError: a sample rate is not positive.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise UsageError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return wav
    frames = resampled_length(wav.shape[1], sr_in, sr_out)
    tail = np.zeros(2 * math.ceil(sr_in / sr_out) + 1, dtype=np.float32)  # so soxr yields >= `frames`
    out = np.empty((wav.shape[0], frames), dtype=np.float32)
    for channel, row in enumerate(wav):  # one channel at a time: memory is input + output + one row
        resampled = soxr.resample(
            np.concatenate([row.astype(np.float32, copy=False), tail]), sr_in, sr_out, quality="VHQ"
        )
        assert resampled.shape[0] >= frames, (resampled.shape, frames)
        out[channel] = resampled[:frames]
    return out


def to_mono(wav: np.ndarray) -> np.ndarray:
    """Downmix to mono by averaging channels: wav (C, T) -> (1, T) float32."""
    return wav.mean(axis=0, keepdims=True, dtype=np.float32)
