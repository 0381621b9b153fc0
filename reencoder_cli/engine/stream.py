"""Streaming: audio of any length through encode -> ops -> decode in memory bounded by the chunk size.

Blocks of input are resampled to 44.1 kHz as they arrive (soxr's streaming resampler,
bit-identical to the one-shot one), encoded chunk by chunk from a rolling buffer with
context frames on both sides, and the whole latent (64 x 43 numbers per second and
channel: small) goes through the ops. Decoding is chunked the same way, with a few frames
of margin so the waveform post-steps see every sample they need; the 44.1 kHz input they
refer to is kept in a temporary file rather than in memory. Every chunk is computed
exactly as in one pass over the whole signal.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr
import torch

from reencoder_cli.chunks import Chunk, chunk_at, chunks
from reencoder_cli.dsp.bandwidth import Spectrum
from reencoder_cli.engine.ops import OPS, OpSpec, wants_detection, with_detected_rate
from reencoder_cli.engine.poststeps import post_margin, post_process, post_steps_apply
from reencoder_cli.io.audio import SourceMeta, resampled_length, to_mono
from reencoder_cli.io.latentfile import Latent
from reencoder_cli.io.modelfile import AEId
from reencoder_cli.io.tempfiles import hidden_temporary
from reencoder_cli.models.autoencoder import Autoencoder

UPMIX_DOWNMIX_NOTE = "stereo input downmixed to mono for upmix"


class Codec(Protocol):
    """What streaming needs of the pipeline: the autoencoder, where it runs, the chunk size."""

    @property
    def ae(self) -> Autoencoder:
        """The loaded autoencoder."""
        ...

    @property
    def ae_id(self) -> AEId:
        """Its identity, recorded in every latent."""
        ...

    @property
    def device(self) -> torch.device:
        """Where it runs."""
        ...

    @property
    def chunk_frames(self) -> int:
        """Latent frames per chunk."""
        ...

    def reference_width(self, specs: Sequence[OpSpec]) -> np.ndarray | None:
        """The upmix reference's width per band, for the post-steps (None without one)."""
        ...


class Resampler:
    """Block-wise windowed-sinc resampling with the exact length rule of ``audio.resample``."""

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self.rates = (rate_in, rate_out)
        self.stream = (
            None
            if rate_in == rate_out
            else soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality="VHQ")
        )
        self.total_in = self.total_out = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """(C, n) at the input rate -> (C, m) at the output rate (m may be 0)."""
        self.total_in += block.shape[1]
        out = block if self.stream is None else self.stream.resample_chunk(np.ascontiguousarray(block.T)).T
        self.total_out += out.shape[1]
        return np.ascontiguousarray(out, dtype=np.float32)

    def finish(self, channels: int) -> np.ndarray:
        """The last samples: the total output length is ``resampled_length`` of the total input."""
        tail = np.zeros((channels, 0), np.float32)
        if self.stream is not None:
            tail = self.stream.resample_chunk(np.zeros((0, channels), np.float32), last=True).T
        want = resampled_length(self.total_in, *self.rates) - self.total_out
        tail = tail[:, : max(0, want)]
        return np.ascontiguousarray(np.pad(tail, ((0, 0), (0, max(0, want - tail.shape[1])))), dtype=np.float32)


def resampled(blocks: Iterable[np.ndarray], rate_in: int, rate_out: int, channels: int) -> Iterator[np.ndarray]:
    """(C, n) blocks at ``rate_in`` -> blocks at ``rate_out``, as one ``audio.resample`` of them all would be long."""
    if rate_in == rate_out:
        yield from blocks
        return
    resampler = Resampler(rate_in, rate_out, channels)
    for block in blocks:
        out = resampler.push(block)
        if out.shape[1]:
            yield out
    yield resampler.finish(channels)


class Normalizer:
    """Scales a stream of blocks so the whole signal's peak sits at ``level_db`` dBFS (``--norm``, as sox's).

    Two passes: the blocks are spooled to a temporary float file in ``folder`` while the
    peak is measured, then read back scaled. ``gain_db`` is the gain applied (0 for silence).
    """

    def __init__(self, level_db: float, channels: int, folder: str | Path) -> None:
        self.level_db, self.channels, self.folder = level_db, channels, folder
        self.gain_db = 0.0

    def __call__(self, blocks: Iterable[np.ndarray], frames: int = 65536) -> Iterator[np.ndarray]:
        """(C, n) blocks -> the same, scaled."""
        store = ReferenceStore(self.channels, self.folder)
        try:
            peak = 0.0
            for block in blocks:
                store.append(block)
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
            gain = 10 ** (self.level_db / 20) / peak if peak > 0 else 1.0
            self.gain_db = 20 * math.log10(gain)
            for start in range(0, store.length, frames):
                yield store.read(start, start + frames) * np.float32(gain)
        finally:
            store.close()


class ReferenceStore:
    """The 44.1 kHz input, kept for the post-steps: in a temporary file in ``folder`` or in memory.

    Raises:
        OutputError: the temporary file cannot be created.
    """

    def __init__(self, channels: int, folder: str | Path | None = None) -> None:
        self.channels, self.length = channels, 0
        self._blocks: list[np.ndarray] = []
        self._file = None if folder is None else open(hidden_temporary(folder, "reencoder-ref"), "r+b")  # noqa: SIM115
        self._array: np.ndarray | None = None

    def append(self, block: np.ndarray) -> None:
        """Add (C, n) samples."""
        self.length += block.shape[1]
        if self._file is not None:
            self._file.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
        else:
            self._blocks.append(block)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as (C, stop - start); zeros beyond the end.

        File reads are explicit (``os.pread``), not a memory map: mapped pages would count
        towards the process's memory, and the point of the file is to keep it bounded.
        """
        stop = min(stop, self.length)
        if self._file is not None:
            self._file.flush()
            width = 4 * self.channels
            data = os.pread(self._file.fileno(), (stop - start) * width, start * width)
            return np.frombuffer(data, np.float32).reshape(-1, self.channels).T.copy()
        if self._array is None:
            self._array = np.concatenate(self._blocks, axis=1) if self._blocks else np.zeros((self.channels, 0))
            self._blocks = []
        return np.asarray(self._array[:, start:stop], dtype=np.float32)

    def close(self) -> None:
        """Remove the temporary file."""
        self._array = None
        if self._file is not None:
            self._file.close()
            os.unlink(self._file.name)
            self._file = None


def encode_stream(
    codec: Codec,
    blocks: Iterable[np.ndarray],
    source_rate: int,
    channels: int,
    mono: bool = False,
    store: ReferenceStore | None = None,
    meta: SourceMeta = SourceMeta(),
) -> Latent:
    """Resample and encode blocks as they come: memory holds one chunk plus context.

    Args:
        codec: the autoencoder, its device and chunk size (a ``Pipeline``).
        blocks: (C, n) float32 blocks at ``source_rate``.
        source_rate: their rate.
        channels: C.
        mono: downmix to mono first (the chain upmixes).
        store: receives the 44.1 kHz reference, for the post-steps.
        meta: the input's sample type and tags, which the latent carries to the output.

    Returns:
        The latent of the whole input, equal to one ``Pipeline.encode`` of it.
    """
    ae = codec.ae
    hop, context, chunk = ae.hop, ae.context_frames, codec.chunk_frames
    dev = codec.device
    out_channels = 1 if mono else channels
    resampler = Resampler(source_rate, ae.sample_rate, out_channels)
    buffer, buffer_start, next_frame = np.zeros((out_channels, 0), np.float32), 0, 0
    latents: list[torch.Tensor] = []

    def emit(span: Chunk) -> None:
        nonlocal buffer, buffer_start, next_frame
        window = buffer[:, span.lo * hop - buffer_start : span.hi * hop - buffer_start]
        with torch.inference_mode():
            z = ae.encode(torch.from_numpy(window).to(dev))
        latents.append(z[..., span.kept].cpu())
        drop = max(0, (span.stop - context) * hop - buffer_start)
        buffer, buffer_start, next_frame = buffer[:, drop:], buffer_start + drop, span.stop

    def feed(samples: np.ndarray) -> None:
        nonlocal buffer
        if store is not None:
            store.append(samples)
        buffer = np.concatenate([buffer, samples], axis=1)
        while (next_frame + chunk + context) * hop <= buffer_start + buffer.shape[1]:
            emit(chunk_at(next_frame, chunk, context))  # the end lies beyond its context

    for block in blocks:
        feed(resampler.push(to_mono(block) if mono and block.shape[0] == 2 else block))
    feed(resampler.finish(out_channels))
    total = buffer_start + buffer.shape[1]
    frames = max(1, math.ceil(total / hop))
    while next_frame < frames:
        emit(chunk_at(next_frame, chunk, context, frames))
    z = torch.cat(latents, dim=-1)
    return Latent(z, total, source_rate, codec.ae_id, ae.sample_rate, meta=meta, hop=ae.hop)


Finish = Callable[[int, np.ndarray], np.ndarray]


def decode_stream(codec: Codec, latent: Latent, finish: Finish | None = None, margin: int = 0) -> Iterator[np.ndarray]:
    """Decode chunk by chunk, trimmed to the latent's length: yields (C, n) float32 blocks.

    Args:
        codec: the autoencoder, its device and chunk size (a ``Pipeline``).
        latent: what to decode.
        finish: post-step applied to each decoded region, given its first sample's index;
            it may look up to ``margin`` samples beyond the part that is kept.
        margin: samples of extra decoded signal on each side of every chunk for ``finish``.
    """
    ae = codec.ae
    hop, context, chunk = ae.hop, ae.context_frames, codec.chunk_frames
    frames, length = latent.z.shape[-1], latent.length
    extra = math.ceil(margin / hop) if finish is not None else 0
    for part in chunks(frames, chunk, extra):  # the part kept, with ``extra`` frames each side for ``finish``
        span = chunk_at(part.lo, part.hi - part.lo, context, frames)  # those, with the decoder's context
        with torch.inference_mode():
            wav = ae.decode(latent.z[..., span.lo : span.hi].to(codec.device))
        lo, hi = part.lo * hop, part.hi * hop
        region = wav[..., (part.lo - span.lo) * hop : (part.hi - span.lo) * hop].float().cpu().numpy()
        region = region[:, : max(0, min(hi, length) - lo)]
        if finish is not None:
            region = finish(lo, region)
        start, stop = part.start * hop - lo, min(part.stop * hop, length) - lo
        if stop > start:
            yield region[:, start:stop]


class StreamJob:
    """One input -> one output through a chain, streamed; use as a context manager.

    Args:
        codec: the autoencoder, its device and chunk size (a ``Pipeline``).
        specs: the ops.
        keep_lowband: post-step of ``upsample`` (see ``poststeps.post_process``).
        keep_mid: post-step of ``upmix``.
        workdir: folder for the temporary 44.1 kHz reference (None: memory).
        reference: (C, T) the 44.1 kHz input when it was read whole (``stacked``), for the
            post-steps; None: ``encode`` keeps it as it reads.
    """

    def __init__(
        self,
        codec: Codec,
        specs: Sequence[OpSpec],
        keep_lowband: bool = True,
        keep_mid: bool = True,
        workdir: str | Path | None = None,
        reference: np.ndarray | None = None,
    ) -> None:
        self.codec, self.specs = codec, list(specs)
        self.keep_lowband, self.keep_mid, self.workdir = keep_lowband, keep_mid, workdir
        self.mono = any(OPS[s.name].mono_input for s in specs)
        self.store: ReferenceStore | None = None
        self.post_steps: tuple[str, ...] = ()
        self.notes: list[str] = []
        if reference is not None and post_steps_apply(self.specs, keep_lowband, keep_mid):
            self.store = ReferenceStore(reference.shape[0], workdir)
            self.store.append(reference)

    def encode(
        self, blocks: Iterable[np.ndarray], source_rate: int, channels: int, meta: SourceMeta = SourceMeta()
    ) -> Latent:
        """Encode the input, keeping its 44.1 kHz version when a post-step will need it.

        With ``upsample:rate=auto`` the input's spectrum is gathered on the way and ``specs``
        get the detected rate (see ``bandwidth``): apply ``self.specs`` afterwards.
        """
        mono = self.mono and channels == 2
        if mono:
            self.notes.append(UPMIX_DOWNMIX_NOTE)
        if post_steps_apply(self.specs, self.keep_lowband, self.keep_mid):
            self.store = ReferenceStore(1 if self.mono else channels, self.workdir)
        spectrum = Spectrum(source_rate) if wants_detection(self.specs) else None
        if spectrum is not None:
            blocks = spectrum.observe(blocks)
        latent = encode_stream(self.codec, blocks, source_rate, channels, mono, self.store, meta)
        if spectrum is not None:
            self.specs, note = with_detected_rate(self.specs, spectrum.content_rate(), source_rate)
            self.notes += [note] if note else []
        return latent

    def output(self, latent: Latent, decoded: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Decoded blocks (C, n) of the (processed) latent, with the post-steps when the input was audio.

        Args:
            latent: z (C, D, F).
            decoded: (C, T) its decode when made already (with other files', ``stacked``);
                None: decoded here, chunk by chunk.
        """
        finish = self._finish(latent)
        if decoded is not None:
            yield decoded if finish is None else finish(0, decoded)
            return
        margin = post_margin(self.specs, latent.source_rate, self.keep_lowband, self.keep_mid, latent.sample_rate)
        yield from decode_stream(self.codec, latent, finish, margin)

    def _finish(self, latent: Latent) -> Finish | None:
        """The post-steps on a decoded region of ``latent``; None without any, or when the input was a latent."""
        if self.store is None:
            return None
        store = self.store
        width = self.codec.reference_width(self.specs)

        def finish(start: int, region: np.ndarray) -> np.ndarray:
            ref = store.read(start, start + region.shape[1])
            out, self.post_steps = post_process(
                region,
                ref,
                self.specs,
                latent.source_rate,
                self.keep_lowband,
                self.keep_mid,
                latent.sample_rate,
                width,
            )
            return out

        return finish

    def __enter__(self) -> StreamJob:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.store is not None:
            self.store.close()
