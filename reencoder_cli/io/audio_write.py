"""Audio output: formats and sample types, dither, atomic writes to paths and streamed WAV to pipes.

Waveforms are float32 numpy arrays shaped ``(C, T)``; writing is atomic for paths and works
with non-seekable pipes for ``"-"`` (``audio`` reads them).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf

from reencoder_cli.constants import VERSION
from reencoder_cli.errors import AudioError, OutputError, UsageError
from reencoder_cli.io.audio import BLOCK_FRAMES, STDIO, PathOrStream, SourceMeta, failure_reason, name_of, path_of
from reencoder_cli.io.tempfiles import hidden_temporary, publish

SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")
DITHER_SEED = 0  # the same noise for the same output: results stay reproducible


@dataclass(frozen=True)
class WriteReport:
    """Outcome of a write: samples limited to [-1, 1], the input's peak magnitude, the sample type written."""

    clipped_samples: int
    peak: float
    subtype: str


def check_format(format: str, where: str | None = None) -> str:
    """libsndfile's name of ``format``, refused (before anything is read) when it does not write it.

    Raises:
        UsageError: unknown format; the message begins with ``where`` (default: the option).
    """
    if format.upper() not in sf.available_formats():
        known = ", ".join(sorted(f.lower() for f in sf.available_formats()))
        where = where or f"--format {format}"
        raise UsageError(f"{where}: unknown audio format '{format.lower()}'; use one of {known}")
    return format.upper()


def check_subtype(subtype: str, where: str | None = None) -> str:
    """``subtype`` as one of ``SUBTYPES``, refused (before anything is read) when it is none of them.

    Raises:
        UsageError: unknown sample type; the message begins with ``where`` (default: the option).
    """
    if subtype.upper() not in SUBTYPES:
        where = where or f"--subtype {subtype}"
        raise UsageError(f"{where}: unknown sample type '{subtype.upper()}'; use {', '.join(SUBTYPES)}")
    return subtype.upper()


def _format(dest: PathOrStream, format: str | None) -> str:
    """libsndfile format name: the argument, else the path's extension, else WAV for streams."""
    path = path_of(dest)
    if format is None and path is not None and path != STDIO:
        format = os.path.splitext(path)[1].lstrip(".")
        if not format:
            raise UsageError(f"{path}: no extension; name the output format")
    return check_format(format or "WAV", name_of(dest, "stdout"))


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
    subtype = check_subtype(subtype, name)
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
        self.name = name_of(dest, "stdout")
        format = _format(dest, format)
        self.subtype = _subtype(self.name, format, subtype, meta.subtype)
        self._dither = np.random.default_rng(DITHER_SEED) if dither else None
        self._overwrite = overwrite
        path = path_of(dest)
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
            raise OutputError(f"{self.name}: cannot write ({failure_reason(err)})") from err
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
                raise OutputError(f"{self.name}: cannot write ({failure_reason(err)})") from err

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
            raise OutputError(f"{self.name}: cannot write ({failure_reason(err)})") from err

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
            raise OutputError(f"{self.name}: cannot write ({failure_reason(err)})") from err
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
