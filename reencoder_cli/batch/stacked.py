"""Throughput: short files batched through the models together (``--batch-size``).

``process_batch`` stacks short files (at most one chunk long) that have the same number of
latent frames into one model call per stage. Each item is zero-padded only after its own
end, exactly as when it is processed alone, and detects its own content band
(``upsample:rate=auto``), so batching never changes a result. Longer files, latent files,
stdin and chains that mix in other files (which change lengths) go through the streaming
``jobs.process``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from reencoder_cli.batch.jobs import (
    Job,
    JobResult,
    JobSpec,
    Progress,
    check_output,
    downmix_note,
    file_system_error,
    norm_note,
    output_rate,
    process,
)
from reencoder_cli.engine.ops import OpSpec
from reencoder_cli.errors import OutputExists, ReencoderError, about
from reencoder_cli.io import audio, audio_write
from reencoder_cli.io.audio import STDIO
from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX
from reencoder_cli.io.latentfile import Latent

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline


@dataclass(frozen=True)
class _Short:
    """A short input read whole: its job index, 44.1 kHz waveform (C, T), rate, inherited meta, start
    time, and its ops (with its own detected rate for ``upsample:rate=auto``)."""

    index: int
    ref: np.ndarray
    rate: int
    meta: audio.SourceMeta
    start: float
    ops: tuple[OpSpec, ...]


def process_batch(
    jobs: Sequence[Job], spec: JobSpec, pipeline: Pipeline, progress: Progress | None = None
) -> list[JobResult]:
    """Process jobs, batching the short audio ones with equal frame counts; results in job order.

    ``progress`` follows the files that are streamed on their own (``jobs.process``).
    """
    from reencoder_cli.dsp.bandwidth import Spectrum
    from reencoder_cli.engine.ops import OPS, wants_detection, with_detected_rate

    if any(s.name == "mix" for s in spec.ops):
        return [process(job, spec, pipeline, progress) for job in jobs]

    mono = any(OPS[s.name].mono_input for s in spec.ops)
    notes: dict[int, list[str]] = {}
    results: dict[int, JobResult] = {}
    short: dict[int, list[_Short]] = {}  # by latent frames
    limit = pipeline.chunk_frames * pipeline.ae.hop
    for index, job in enumerate(jobs):
        if job.input == STDIO or job.input.endswith(LATENT_SUFFIX) or job.output.endswith(LATENT_SUFFIX):
            results[index] = process(job, spec, pipeline, progress)
            continue
        start = time.perf_counter()
        try:
            if check_output(job, spec.overwrite, spec.skip_existing):
                results[index] = JobResult(job.input, job.output, status="skipped", seed=spec.seed)
                continue
            with audio.AudioReader(job.input, spec.downmix) as reader:
                wav, rate, meta = reader.read(), reader.sample_rate, reader.meta
                notes[index] = downmix_note(reader) + list(job.notes)
            ops = spec.ops
            if wants_detection(ops):  # each file its own band, as when streamed alone
                spectrum = Spectrum(rate)
                spectrum.add(wav)
                resolved, note = with_detected_rate(ops, spectrum.content_rate(), rate)
                ops, notes[index] = tuple(resolved), notes[index] + ([note] if note else [])
        except ReencoderError as exc:
            results[index] = _failed(job, spec, exc, start)
            continue
        if audio.resampled_length(wav.shape[1], rate, pipeline.ae.sample_rate) > limit:
            results[index] = process(job, spec, pipeline, progress)  # long: streamed on its own
            continue
        if mono and wav.shape[0] == 2:  # downmix before resampling, in the same order as the stream
            wav = audio.to_mono(wav)
            notes[index].append("stereo input downmixed to mono for upmix")
        ref = audio.resample(wav, rate, pipeline.ae.sample_rate)
        item = _Short(index, ref, rate, meta, start, ops)
        short.setdefault(math.ceil(ref.shape[1] / pipeline.ae.hop), []).append(item)
    for group in short.values():
        for index, result in _run_group(jobs, group, spec, pipeline):
            result.notes = notes[index] + result.notes
            results[index] = result
    return [results[i] for i in range(len(jobs))]


def _failed(job: Job, spec: JobSpec, exc: Exception, start: float) -> JobResult:
    error = about(exc, job.input, job.output)
    return JobResult(job.input, job.output, error=error, seed=spec.seed, seconds=time.perf_counter() - start)


def _run_group(
    jobs: Sequence[Job], group: list[_Short], spec: JobSpec, pipeline: Pipeline
) -> list[tuple[int, JobResult]]:
    """One stacked encode and one stacked decode for files with the same frame count."""
    from reencoder_cli.engine.poststeps import post_process
    from reencoder_cli.engine.stream import Normalizer, decode_stream, encode_stream, resampled
    from reencoder_cli.io.tempfiles import scratch_dir

    ae_rate, hop = pipeline.ae.sample_rate, pipeline.ae.hop
    width = max(item.ref.shape[1] for item in group)
    stacked = np.concatenate([np.pad(item.ref, ((0, 0), (0, width - item.ref.shape[1]))) for item in group])
    z = encode_stream(pipeline, [stacked], ae_rate, stacked.shape[0]).z
    done: list[tuple[int, JobResult]] = []
    processed: list[tuple[_Short, Latent, JobResult]] = []
    row = 0
    for item in group:
        job, channels = jobs[item.index], item.ref.shape[0]
        length = item.ref.shape[1]
        latent = Latent(z[row : row + channels], length, item.rate, pipeline.ae_id, ae_rate, meta=item.meta, hop=hop)
        row += channels
        result = JobResult(job.input, job.output, seed=spec.seed, in_rate=item.rate, duration=length / ae_rate)
        try:
            processed.append((item, pipeline.apply(latent, item.ops, spec.seed), result))
        except ReencoderError as exc:
            done.append((item.index, _failed(job, spec, exc, item.start)))
    if not processed:
        return done
    frames = processed[0][1].z.shape[-1]
    z_all = torch.cat([latent.z for _, latent, _ in processed])
    whole = Latent(z_all, frames * hop, ae_rate, pipeline.ae_id, ae_rate, hop=hop)
    wav_all = np.concatenate(list(decode_stream(pipeline, whole)), axis=1)
    row = 0
    for item, latent, result in processed:
        job = jobs[item.index]
        out = wav_all[row : row + latent.channels, : latent.length]
        row += latent.channels
        try:
            width = pipeline.reference_width(item.ops)
            out, steps = post_process(
                out, item.ref, item.ops, latent.source_rate, spec.keep_lowband, spec.keep_mid, reference_width=width
            )
            rate = output_rate(spec, latent)
            out = np.concatenate(list(resampled([out], latent.sample_rate, rate, latent.channels)), axis=1)
            if spec.norm is not None:
                norm = Normalizer(spec.norm, latent.channels, scratch_dir())
                out = np.concatenate(list(norm([out])), axis=1)
                result.notes.append(norm_note(spec.norm, norm.gain_db))
            report = audio_write.write_audio(
                job.output, out, rate, spec.subtype, spec.format, latent.meta, spec.dither, spec.overwrite
            )
        except OutputExists as exc:  # it appeared meanwhile (another batch made it)
            skipped = JobResult(job.input, job.output, status="skipped", seed=spec.seed)
            done.append((item.index, skipped if spec.skip_existing else _failed(job, spec, exc, item.start)))
            continue
        except ReencoderError as exc:
            done.append((item.index, _failed(job, spec, exc, item.start)))
            continue
        except OSError as exc:
            done.append((item.index, _failed(job, spec, OSError(file_system_error(exc, job.output)), item.start)))
            continue
        result.status, result.ops, result.post_steps = "done", list(latent.ops), list(steps)
        result.channels, result.out_rate = latent.channels, rate
        result.subtype, result.clipped_samples = report.subtype, report.clipped_samples
        result.models = pipeline.model_shas(result.ops)
        result.seconds = time.perf_counter() - item.start
        result.realtime_factor = result.duration / result.seconds if result.seconds > 0 else None
        done.append((item.index, result))
    return done
