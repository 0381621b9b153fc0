"""Running a batch: ``run_jobs`` is the one way the jobs of a command are run, batched or not.

With ``--batch-size 1`` each file is streamed on its own (``run.process``). With more, the
short files of a group (at most one chunk long, by their header, then by what was read)
that have the same number of latent frames share one model call per stage. Each item is
zero-padded only after its own end, exactly as when it is processed alone, and detects its
own content band (``upsample:rate=auto``), so batching never changes a result. Longer files
(never read whole), latent files, stdin and chains that mix in other files (which change
lengths) are streamed; every file ends as a streamed one does (``run.deliver``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from reencoder_cli.batch.jobs import Job, JobResult, JobSpec, check_output
from reencoder_cli.batch.run import Progress, deliver, downmix_note, new_result, process, recorded
from reencoder_cli.engine.ops import OpSpec
from reencoder_cli.engine.stream import UPMIX_DOWNMIX_NOTE
from reencoder_cli.io import audio
from reencoder_cli.io.audio import STDIO
from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX
from reencoder_cli.io.latentfile import Latent

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline


@dataclass(frozen=True)
class _Short:
    """A short input read whole: its job's index and record (begun at ``start``), 44.1 kHz waveform
    (C, T), rate, inherited meta, and its ops (with its own detected rate for ``upsample:rate=auto``)."""

    index: int
    result: JobResult
    start: float
    ref: np.ndarray
    rate: int
    meta: audio.SourceMeta
    ops: tuple[OpSpec, ...]


_Read = tuple[np.ndarray, int, audio.SourceMeta, tuple[OpSpec, ...], list[str]]
"""An input read whole (``_read``)."""


def run_jobs(
    jobs: Sequence[Job], spec: JobSpec, pipeline: Pipeline, batch_size: int = 1, progress: Progress | None = None
) -> Iterator[list[JobResult]]:
    """Run ``jobs`` in groups of ``batch_size``: each group's records, in job order, as it finishes.

    Never raises for a bad file (its record says ``failed``); ``progress`` follows the files
    that are streamed (``run.process``).
    """
    for first in range(0, len(jobs), batch_size):
        group = jobs[first : first + batch_size]
        yield (
            _stacked(group, spec, pipeline, progress)
            if batch_size > 1
            else [process(group[0], spec, pipeline, progress)]
        )


def _stacked(jobs: Sequence[Job], spec: JobSpec, pipeline: Pipeline, progress: Progress | None) -> list[JobResult]:
    """Process jobs, batching the short audio ones with equal frame counts; records in job order."""
    from reencoder_cli.engine.ops import OPS

    if any(s.name == "mix" for s in spec.ops):
        return [process(job, spec, pipeline, progress) for job in jobs]
    mono = any(OPS[s.name].mono_input for s in spec.ops)
    results: dict[int, JobResult] = {}
    short: dict[int, list[_Short]] = {}  # by latent frames
    limit = pipeline.chunk_frames * pipeline.ae.hop
    for index, job in enumerate(jobs):
        if job.input == STDIO or job.input.endswith(LATENT_SUFFIX) or job.output.endswith(LATENT_SUFFIX):
            results[index] = process(job, spec, pipeline, progress)
            continue
        read: _Read | Literal["long"] | None = None
        result, start = new_result(job, spec), time.perf_counter()
        with recorded(result, spec, pipeline, start):
            read = _read(job, spec, result, limit, pipeline.ae.sample_rate)
        if read is None:  # skipped or failed
            results[index] = result
            continue
        if read == "long":  # by its header: streamed, never read whole
            results[index] = process(job, spec, pipeline, progress)
            continue
        wav, rate, meta, ops, detected = read
        if audio.resampled_length(wav.shape[1], rate, pipeline.ae.sample_rate) > limit:
            results[index] = process(job, spec, pipeline, progress)  # long: streamed on its own
            continue
        if mono and wav.shape[0] == 2:  # downmix before resampling, in the same order as the stream
            wav = audio.to_mono(wav)
            result.notes.append(UPMIX_DOWNMIX_NOTE)
        result.notes += detected + list(job.notes)  # in the order of a streamed job's notes
        ref = audio.resample(wav, rate, pipeline.ae.sample_rate)
        item = _Short(index, result, start, ref, rate, meta, ops)
        short.setdefault(math.ceil(ref.shape[1] / pipeline.ae.hop), []).append(item)
    for group in short.values():
        _run_group(jobs, group, spec, pipeline)
        results |= {item.index: item.result for item in group}
    return [results[i] for i in range(len(jobs))]


def _read(job: Job, spec: JobSpec, result: JobResult, limit: int, ae_rate: int) -> _Read | Literal["long"] | None:
    """Read a job's input whole, its downmix note into ``result``: -> (C, T) waveform, rate, meta,
    ops (with its own detected rate for ``upsample:rate=auto``) and detection's note; None:
    skipped; "long": its header claims more than ``limit`` samples at ``ae_rate`` (not read)."""
    from reencoder_cli.dsp.bandwidth import Spectrum
    from reencoder_cli.engine.ops import wants_detection, with_detected_rate

    if check_output(job, spec.overwrite, spec.skip_existing):
        result.status = "skipped"
        return None
    with audio.AudioReader(job.input, spec.downmix) as reader:
        if audio.resampled_length(reader.frames, reader.sample_rate, ae_rate) > limit:
            return "long"
        wav, rate, meta = reader.read(), reader.sample_rate, reader.meta
        result.notes += downmix_note(reader)
    if not wants_detection(spec.ops):
        return wav, rate, meta, spec.ops, []
    spectrum = Spectrum(rate)  # each file its own band, as when streamed alone
    spectrum.add(wav)
    resolved, note = with_detected_rate(spec.ops, spectrum.content_rate(), rate)
    return wav, rate, meta, tuple(resolved), [note] if note else []


def _run_group(jobs: Sequence[Job], group: list[_Short], spec: JobSpec, pipeline: Pipeline) -> None:
    """One stacked encode and one stacked decode for files with the same frame count; each ends as a
    streamed job does (``run.deliver``), into its record."""
    from reencoder_cli.engine.stream import StreamJob, decode_stream, encode_stream

    ae_rate, hop = pipeline.ae.sample_rate, pipeline.ae.hop
    width = max(item.ref.shape[1] for item in group)
    stacked = np.concatenate([np.pad(item.ref, ((0, 0), (0, width - item.ref.shape[1]))) for item in group])
    z = encode_stream(pipeline, [stacked], ae_rate, stacked.shape[0]).z
    processed: list[tuple[_Short, Latent]] = []
    row = 0
    for item in group:
        channels, length = item.ref.shape
        latent = Latent(z[row : row + channels], length, item.rate, pipeline.ae_id, ae_rate, meta=item.meta, hop=hop)
        row += channels
        item.result.in_rate, item.result.duration = item.rate, length / ae_rate
        with recorded(item.result, spec, pipeline, item.start):
            processed.append((item, pipeline.apply(latent, item.ops, spec.seed)))
    if not processed:
        return
    frames = processed[0][1].z.shape[-1]
    z_all = torch.cat([latent.z for _, latent in processed])
    whole = Latent(z_all, frames * hop, ae_rate, pipeline.ae_id, ae_rate, hop=hop)
    wav_all = np.concatenate(list(decode_stream(pipeline, whole)), axis=1)
    row = 0
    for item, latent in processed:
        decoded = wav_all[row : row + latent.channels, : latent.length]
        row += latent.channels
        with (
            recorded(item.result, spec, pipeline, item.start),
            StreamJob(pipeline, item.ops, spec.keep_lowband, spec.keep_mid, reference=item.ref) as stream,
        ):
            deliver(jobs[item.index], spec, stream, latent, item.result, decoded=decoded)
