"""Audio input and output: read, inspect, resample, downmix and write waveforms.

Waveforms are float32 numpy arrays shaped ``(C, T)`` with ``C`` = 1 or 2. Reading goes
through libsndfile (``soundfile``) in blocks, so a header that lies about its length costs
nothing; writing is atomic for paths and works with non-seekable pipes for ``"-"``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from reencoder_cli.constants import VERSION
from reencoder_cli.errors import AudioError, OutputError, UsageError
from reencoder_cli.io.tempfiles import hidden_temporary, publish

PathOrStream = str | os.PathLike[str] | BinaryIO

STDIO = "-"
BLOCK_FRAMES = 65536
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
DITHER_SEED = 0  # the same noise for the same output: results stay reproducible


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says; ``frames`` may overstate the real length."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str


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


@dataclass(frozen=True)
class WriteReport:
    """Outcome of a write: samples limited to [-1, 1], the input's peak magnitude, the sample type written."""

    clipped_samples: int
    peak: float
    subtype: str


def _path(target: PathOrStream) -> str | None:
    """The path as a string, or None for a stream."""
    return os.fspath(target) if isinstance(target, (str, os.PathLike)) else None


def _name(target: PathOrStream, stdio: str) -> str:
    """The name used in messages: the path as given, ``stdio`` for ``"-"``, or a stream's name."""
    path = _path(target)
    if path is None:
        return str(getattr(target, "name", "<stream>"))
    return stdio if path == STDIO else path


def _seekable(source: PathOrStream) -> str | BinaryIO:
    """A path as a string; stdin or a non-seekable stream read fully into memory; else as is."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return io.BytesIO(sys.stdin.buffer.read()) if path == STDIO else path
    return source if source.seekable() else io.BytesIO(source.read())


def _reason(err: Exception) -> str:
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
        reason = _reason(err)
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
        self.name = _name(source, "stdin")
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
                raise AudioError(f"{self.name}: not a readable audio file ({_reason(err)})") from err
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


def audio_info(source: PathOrStream) -> AudioInfo:
    """Read an audio file's header without decoding its samples.

    A stream is left at the position it had. ``"-"`` is refused: stdin can be read only once.

    Args:
        source: a path or a seekable binary stream.

    Returns:
        The header's sample rate, channels, frames (as claimed), format and subtype.

    Raises:
        AudioError: the file is missing or not readable audio.
        UsageError: ``source`` is ``"-"``.
    """
    name = _name(source, "stdin")
    if not isinstance(source, (str, os.PathLike)):
        start = source.tell()
        try:
            with _open(source, name) as f:
                return AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)
        finally:
            source.seek(start)
    if os.fspath(source) == STDIO:
        raise UsageError("stdin: cannot inspect stdin before reading it; pass a file instead")
    with _open(os.fspath(source), name) as f:
        return AudioInfo(f.samplerate, f.channels, f.frames, f.format, f.subtype)


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


def check_format(format: str) -> None:
    """Refuse a format name libsndfile does not write (before anything is read).

    Raises:
        UsageError: unknown format.
    """
    if format.upper() not in sf.available_formats():
        known = ", ".join(sorted(f.lower() for f in sf.available_formats()))
        raise UsageError(f"--format {format}: unknown audio format; use one of {known}")


def check_subtype(subtype: str) -> None:
    """Refuse a sample type other than ``SUBTYPES`` (before anything is read).

    Raises:
        UsageError: unknown sample type.
    """
    if subtype.upper() not in SUBTYPES:
        raise UsageError(f"--subtype {subtype}: unknown sample type; use {', '.join(SUBTYPES)}")


def _format(dest: PathOrStream, format: str | None) -> str:
    """libsndfile format name: the argument, else the path's extension, else WAV for streams."""
    path = _path(dest)
    if format is None and path is not None and path != STDIO:
        format = os.path.splitext(path)[1].lstrip(".")
        if not format:
            raise UsageError(f"{path}: no extension; name the output format")
    format = (format or "WAV").upper()
    if format not in sf.available_formats():
        known = ", ".join(sorted(f.lower() for f in sf.available_formats()))
        raise UsageError(f"{_name(dest, 'stdout')}: unknown audio format '{format.lower()}'; use one of {known}")
    return format


def _subtype(name: str, format: str, subtype: str | None, source: str | None) -> str:
    """libsndfile subtype: the one asked for, else the input's precision where the format is PCM.

    A PCM format (WAV, FLAC, AIFF...) keeps the input's precision as sox does: float stays
    float (FLAC, which has none, gets 24 bits), 24- and 32-bit integers give 24 bits, and
    16-bit, 8-bit, lossy or unknown inputs give 16 bits. A lossy format (OGG, MP3...) takes its
    own default.
    """
    if subtype is None:
        default = sf.default_subtype(format)
        if not default.startswith("PCM_"):
            return default
        source = source or ""
        wanted = ("FLOAT", "PCM_24") if source in FLOAT_SUBTYPES else ("PCM_24",) if source[-2:] in ("24", "32") else ()
        return next((s for s in wanted if sf.check_format(format, s)), "PCM_16")
    subtype = subtype.upper()
    if subtype not in SUBTYPES:
        raise UsageError(f"{name}: unknown sample type '{subtype}'; use {', '.join(SUBTYPES)}")
    if not sf.check_format(format, subtype):
        raise UsageError(f"{name}: {format} cannot hold {subtype} samples; use PCM_16 or PCM_24, or write WAV")
    return subtype


WAV_STREAM_BITS = {"PCM_16": 16, "PCM_24": 24, "FLOAT": 32}  # the subtypes a WAV stream is written in


def wav_stream_header(sample_rate: int, channels: int, subtype: str) -> bytes:
    """The 44-byte header of a WAV stream of unknown length (RIFF and data sizes at their maximum)."""
    bits = WAV_STREAM_BITS[subtype]
    align = channels * bits // 8
    tag = 3 if subtype == "FLOAT" else 1  # IEEE float or PCM
    fmt = struct.pack("<IHHIIHH", 16, tag, channels, sample_rate, sample_rate * align, align, bits)
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)


def wav_stream_samples(block: np.ndarray, subtype: str) -> bytes:
    """Interleaved little-endian samples of a block: (C, n) int16 (PCM_16) or float in [-1, 1] -> bytes."""
    if subtype == "PCM_16":
        return np.ascontiguousarray(block.T, dtype="<i2").tobytes()
    if subtype == "FLOAT":
        return np.ascontiguousarray(block.T, dtype="<f4").tobytes()
    # as libsndfile: scaled to 32 bits in float32 arithmetic, rounded, the top three bytes kept
    scaled = np.rint(block.T.astype(np.float32) * np.float32(2147483647.0)).astype(np.float64)
    ints = np.ascontiguousarray(np.clip(scaled, -(2.0**31), 2.0**31 - 1), dtype="<i4")
    return ints.view(np.uint8).reshape(*ints.shape, 4)[..., 1:].tobytes()


def _stdout() -> BinaryIO:
    return sys.stdout.buffer


def _stream_of(dest: PathOrStream) -> BinaryIO:
    """The binary stream a non-path destination writes to: stdout for ``"-"``."""
    return _stdout() if isinstance(dest, (str, os.PathLike)) else dest


class AudioWriter:
    """Writes (C, n) blocks to a path atomically, or to stdout / a stream, never clipping silently.

    A path is written to a hidden temporary file in the same folder and becomes the
    destination at ``commit`` (``tempfiles.publish``: never replacing a file without
    ``overwrite``, even one that appeared meanwhile); ``abort`` (or an exception inside the
    ``with`` block) removes it, so a crash never leaves a half-written output. WAV to ``"-"``
    (stdout) or a stream is written as it comes, with the length fields of its header at
    their maximum as sox and ffmpeg write to pipes, so memory stays bounded and a reader that
    closes the pipe stops the job; other formats need to seek, so they are sent whole at
    ``commit``. Float subtypes keep
    samples beyond +/-1; integer and lossy ones limit them to [-1, 1] and count them. 16-bit
    output is quantised here, rounded to the nearest step of 1/32768 (libsndfile would floor
    at a scale of 32767), with TPDF dither of one step peak, as sox adds below 24 bits, from
    a fixed seed: quiet passages fade into noise instead of into quantisation distortion,
    and the same input still gives the same file. The input's text tags are carried over
    where the format holds text, and ``software`` names reencoder.

    Args:
        dest: a path, ``"-"`` for stdout, or a binary stream.
        sample_rate: in Hz.
        channels: 1 or 2.
        subtype: "PCM_16", "PCM_24", "FLOAT" or None (the input's precision, see ``meta``).
        format: a libsndfile format name; None takes it from the extension (WAV for streams).
        meta: what the output inherits from its input (precision and tags).
        dither: add TPDF dither to 16-bit output.
        overwrite: replace an existing file at ``dest``.

    Raises:
        UsageError: unknown format or subtype, or a subtype the format cannot hold.
        OutputError: the folder is missing or the file cannot be written.
    """

    def __init__(
        self,
        dest: PathOrStream,
        sample_rate: int,
        channels: int,
        subtype: str | None = None,
        format: str | None = None,
        meta: SourceMeta = SourceMeta(),
        dither: bool = True,
        overwrite: bool = False,
    ) -> None:
        self.name = _name(dest, "stdout")
        format = _format(dest, format)
        self.subtype = _subtype(self.name, format, subtype, meta.subtype)
        self._dither = np.random.default_rng(DITHER_SEED) if dither else None
        self._overwrite = overwrite
        path = _path(dest)
        self._path = path if path is not None and path != STDIO else None
        self._stream: BinaryIO | None = None if self._path is not None else _stream_of(dest)
        self._tmp: str | None = None
        self._file: sf.SoundFile | None = None
        self.clipped, self.peak = 0, 0.0
        if self._stream is not None and format == "WAV" and self.subtype in WAV_STREAM_BITS:
            self._send(wav_stream_header(sample_rate, channels, self.subtype))
            return
        if self._path is not None:
            folder = os.path.dirname(os.path.abspath(self._path))
            if not os.path.isdir(folder):
                raise OutputError(f"{self._path}: folder {folder} does not exist")
            self._tmp = hidden_temporary(folder, os.path.basename(self._path))
            target: str | BinaryIO = self._tmp
        else:
            self._buffer = io.BytesIO()
            target = self._buffer
        try:
            self._file = sf.SoundFile(target, "w", sample_rate, channels, self.subtype, format=format)
        except (OSError, sf.LibsndfileError) as err:
            self.abort()
            raise OutputError(f"{self.name}: cannot write ({_reason(err)})") from err
        self._tag(meta.tags)

    def _tag(self, tags: tuple[tuple[str, str], ...]) -> None:
        """Write the text tags, and ``software``; formats without text (AU, W64) get none."""
        try:
            for key, value in (*tags, ("software", f"reencoder {VERSION}")):
                setattr(self._file, key, value)
        except sf.LibsndfileError:
            pass  # "File type does not support string data"

    def write(self, wav: np.ndarray) -> None:
        """Append samples: wav (C, n) float32."""
        for start in range(0, wav.shape[1], BLOCK_FRAMES):
            block = wav[:, start : start + BLOCK_FRAMES]
            self.peak = max(self.peak, float(np.abs(block).max(initial=0.0)))
            if self.subtype not in FLOAT_SUBTYPES:
                self.clipped += int(np.count_nonzero(np.abs(block) > 1.0))
                block = self._pcm16(block) if self.subtype == "PCM_16" else np.clip(block, -1.0, 1.0)
            if self._file is None:
                self._send(wav_stream_samples(block, self.subtype))
                continue
            try:
                self._file.write(np.ascontiguousarray(block.T))
            except (OSError, sf.LibsndfileError) as err:
                raise OutputError(f"{self.name}: cannot write ({_reason(err)})") from err

    def _send(self, data: bytes | memoryview | None) -> None:
        """Write bytes to the output stream (None: flush it); a closed pipe ends the job with a clear reason."""
        assert self._stream is not None
        try:
            if data is None:
                self._stream.flush()
            else:
                self._stream.write(data)
        except BrokenPipeError:
            if self._stream is _stdout():  # nothing more can reach it, not even the exit's flush
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise OutputError(f"{self.name}: the reader closed the pipe; stopped") from None
        except OSError as err:
            if err.errno == errno.EPIPE:
                raise OutputError(f"{self.name}: the reader closed the pipe; stopped") from None
            raise OutputError(f"{self.name}: cannot write ({_reason(err)})") from err

    def _pcm16(self, block: np.ndarray) -> np.ndarray:
        """(C, n) float -> (C, n) int16: scaled by 32768, dithered, rounded, limited."""
        scaled = block.astype(np.float64) * 32768.0
        if self._dither is not None:  # frame-major draws: the same noise however the blocks are cut
            uniform = self._dither.random((block.shape[1], block.shape[0], 2))
            scaled += (uniform[..., 0] - uniform[..., 1]).T
        return np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)

    def commit(self) -> WriteReport:
        """Finish: the temporary file becomes the destination, or the rest goes to the stream."""
        try:
            if self._file is not None:
                self._file.close()
            if self._tmp is not None and self._path is not None:  # a temporary is made only for a path
                publish(self._tmp, self._path, self._overwrite)
                self._tmp = None
            else:
                if self._file is not None:  # a format sent whole
                    data = self._buffer.getbuffer()
                    for start in range(0, len(data), 1 << 20):  # in pieces: a closed pipe is seen at once
                        self._send(data[start : start + (1 << 20)])
                self._send(None)
        except (OSError, sf.LibsndfileError) as err:
            self.abort()
            raise OutputError(f"{self.name}: cannot write ({_reason(err)})") from err
        except OutputError:
            self.abort()
            raise
        return WriteReport(self.clipped, self.peak, self.subtype)

    def abort(self) -> None:
        """Discard everything written: the temporary file is removed."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._tmp)
            self._tmp = None

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        if kind is not None:
            self.abort()


def write_audio(
    dest: PathOrStream,
    wav: np.ndarray,
    sample_rate: int,
    subtype: str | None = None,
    format: str | None = None,
    meta: SourceMeta = SourceMeta(),
    dither: bool = True,
    overwrite: bool = False,
) -> WriteReport:
    """Write a waveform without ever clipping silently (see ``AudioWriter``).

    Args:
        dest: a path, ``"-"`` for stdout, or a binary stream.
        wav: (C, T) float32.
        sample_rate: in Hz.
        subtype: "PCM_16", "PCM_24", "FLOAT" or None (the input's precision).
        format: a libsndfile format name, or None.
        meta: what the output inherits from its input (precision and tags).
        dither: add TPDF dither to 16-bit output.
        overwrite: replace an existing file at ``dest``.

    Returns:
        The number of limited samples and the input's peak magnitude.
    """
    with AudioWriter(dest, sample_rate, wav.shape[0], subtype, format, meta, dither, overwrite) as writer:
        writer.write(wav)
        return writer.commit()


def opus_encode(wav: np.ndarray, sample_rate: int, path: str | os.PathLike[str], kbps: int) -> None:
    """Write ``wav`` (C, T) to ``path`` as Ogg Opus at ``kbps`` per channel, with opus-tools' ``opusenc``."""
    import shutil
    import subprocess

    if shutil.which("opusenc") is None:
        raise AudioError("opusenc not found: install opus-tools (apt-get install opus-tools)")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.wav")
        write_audio(src, wav, sample_rate, "FLOAT")
        bitrate = str(kbps * wav.shape[0])
        done = subprocess.run(["opusenc", "--quiet", "--bitrate", bitrate, src, os.fspath(path)], capture_output=True)
    if done.returncode:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(f"opusenc failed on {os.fspath(path)}: {reason[-1] if reason else done.returncode}")
