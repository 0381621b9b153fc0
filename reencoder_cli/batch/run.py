"""Running a job: one input through the chain to its output, and what every job ends with.

``process`` streams one file: read (or load a latent), encode once, ops, decode once.
``stacked`` (which runs a command's jobs) encodes and decodes short files together. Both end in
``deliver`` (the latent saved, or the decode with its post-steps, output rate, ``--norm``
and the atomic write) inside ``recorded`` (a failure becomes the record's one-line error;
the record gets its time and models), so a file's output and record are the same
whichever path it took.

This module never prints: a job's ``JobResult`` says what happened and the CLI reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.batch.jobs import Job, JobResult, JobSpec, check_output, output_rate
from reencoder_cli.errors import OutputExists, ReencoderError, about
from reencoder_cli.io import audio, audio_write
from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX
from reencoder_cli.io.latentfile import load_latent, save_latent
from reencoder_cli.io.tempfiles import scratch_dir

if TYPE_CHECKING:
    from reencoder_cli.engine.pipeline import Pipeline
    from reencoder_cli.engine.stream import StreamJob
    from reencoder_cli.io.latentfile import Latent

Progress = Callable[[str, str, float, float], None]
"""Progress of a file being streamed: (input, stage "encode" or "decode", seconds of audio done, seconds in all)."""


def new_result(job: Job, spec: JobSpec) -> JobResult:
    """The record of ``job`` before it runs."""
    return JobResult(job.input, job.output, seed=spec.seed, ops=[str(s) for s in spec.ops])


def downmix_note(reader: audio.AudioReader) -> list[str]:
    """The note of a downmixed input (none when it was not)."""
    if reader.channels == reader.file_channels:
        return []
    to = "mono" if reader.channels == 1 else "stereo"
    return [
        f"{reader.file_channels} channels downmixed to {to}" + (" (ITU-R BS.775)" if reader.file_channels > 2 else "")
    ]


def norm_note(level_db: float, gain_db: float) -> str:
    """The note of ``--norm``."""
    return f"normalised: gain {gain_db:+.2f} dB puts the peak at {level_db:g} dBFS"


def file_system_error(exc: OSError, output: str) -> str:
    """One line for a file-system failure while making ``output``: what failed, on which file."""
    where = f" ({exc.filename})" if exc.filename and os.fspath(exc.filename) != output else ""
    return f"{output}: cannot write: {exc.strerror or type(exc).__name__}{where}"


@contextmanager
def recorded(result: JobResult, spec: JobSpec, pipeline: Pipeline, start: float) -> Iterator[None]:
    """Run a stage of a job whose record is ``result``, begun at ``start`` (``time.perf_counter``).

    What the stage raises for a bad file becomes the record's one-line error and is not
    raised on (an output that appeared meanwhile is ``skipped`` with ``--skip-existing``);
    KeyboardInterrupt and SystemExit propagate. The record gets its time, the models'
    sha256 and, once ``done``, its realtime factor.
    """
    try:
        yield
    except OutputExists as exc:  # it appeared while this job ran (another batch made it)
        if spec.skip_existing:
            result.status = "skipped"
        else:
            result.error = about(exc, result.input, result.output)
    except ReencoderError as exc:
        result.error = about(exc, result.input, result.output)
    except MemoryError:
        result.error = f"{result.input}: out of memory (try a smaller --chunk-seconds)"
    except OSError as exc:  # the file system refused (read-only, full, gone): say what and where
        result.error = file_system_error(exc, result.output)
    except Exception as exc:  # a bug or a library failure on one file must not stop the batch
        result.error = f"{result.input}: internal error: {type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.perf_counter() - start
        result.models = pipeline.model_shas(result.ops)
        if result.status == "done" and result.seconds > 0:
            result.realtime_factor = result.duration / result.seconds


def _counted(
    blocks: Iterable[np.ndarray], job: Job, stage: str, rate: int, total: float, progress: Progress | None
) -> Iterator[np.ndarray]:
    """``blocks`` (C, n) as they are consumed, reporting the seconds of audio passed so far."""
    done = 0
    for block in blocks:
        yield block
        done += block.shape[-1]
        if progress is not None:
            progress(job.input, stage, done / rate, total)


def deliver(
    job: Job,
    spec: JobSpec,
    stream: StreamJob,
    latent: Latent,
    result: JobResult,
    progress: Progress | None = None,
    decoded: np.ndarray | None = None,
) -> None:
    """What every job ends with, after the ops: the latent saved, or decoded, post-steps, resampled
    to the output rate, ``--norm``, written atomically; ``result`` says what was done.

    Args:
        job: the input and output.
        spec: what to do to every file.
        stream: the job's chain, with the 44.1 kHz input the post-steps need.
        latent: the processed latent, z (C, D, F).
        result: the job's record.
        progress: called as the output is decoded.
        decoded: (C, T) the latent's decode when made already (with other files', ``stacked``);
            None: decoded here, chunk by chunk.
    """
    from reencoder_cli.engine.stream import Normalizer, resampled
    from reencoder_cli.io.background import write_behind

    result.ops, result.channels = list(latent.ops), latent.channels
    if job.output.endswith(LATENT_SUFFIX):
        save_latent(job.output, latent, spec.overwrite)
        result.status = "done"
        return
    rate = output_rate(spec, latent)
    norm = None if spec.norm is None else Normalizer(spec.norm, latent.channels, scratch_dir())
    with audio_write.AudioWriter(
        job.output, rate, latent.channels, spec.subtype, spec.format, latent.meta, spec.dither, spec.overwrite
    ) as writer:
        blocks = resampled(stream.output(latent, decoded), latent.sample_rate, rate, latent.channels)
        blocks = _counted(blocks, job, "decode", rate, latent.length / latent.sample_rate, progress)
        write_behind(writer, blocks if norm is None else norm(blocks))
        report = writer.commit()
    if norm is not None:
        result.notes.append(norm_note(norm.level_db, norm.gain_db))
    result.out_rate, result.subtype, result.clipped_samples = rate, report.subtype, report.clipped_samples
    result.post_steps = list(stream.post_steps)
    result.status = "done"


def process(job: Job, spec: JobSpec, pipeline: Pipeline, progress: Progress | None = None) -> JobResult:
    """Run one job, streamed: read (or load a latent), encode once, ops, decode once, post-steps, write atomically.

    Memory is bounded by the pipeline's chunk size whatever the input's length (the
    44.1 kHz input the post-steps need goes to a temporary file in ``tempfiles.scratch_dir``).
    Never raises for a bad file: the result says ``failed`` with a one-line reason, and
    no output (not even a partial one) is left behind. KeyboardInterrupt and SystemExit
    propagate, also leaving nothing behind. ``progress`` is called as the input is encoded
    (its total is the header's length) and as the output is decoded.
    """
    from reencoder_cli.engine.stream import StreamJob
    from reencoder_cli.io.background import prefetched

    result = new_result(job, spec)
    with recorded(result, spec, pipeline, time.perf_counter()):
        if check_output(job, spec.overwrite, spec.skip_existing):
            result.status = "skipped"
            return result
        with StreamJob(pipeline, list(spec.ops), spec.keep_lowband, spec.keep_mid, scratch_dir()) as stream:
            if job.input.endswith(LATENT_SUFFIX):
                latent = load_latent(job.input)
                pipeline.check_latent(latent, job.input)
            else:
                with audio.AudioReader(job.input, spec.downmix) as reader:
                    in_rate, claimed = reader.sample_rate, reader.frames / reader.sample_rate
                    blocks = _counted(prefetched(reader.blocks()), job, "encode", in_rate, claimed, progress)
                    latent = stream.encode(blocks, in_rate, reader.channels, reader.meta)
                    result.notes += downmix_note(reader)
            result.in_rate, result.duration = latent.source_rate, latent.length / latent.sample_rate
            result.notes += list(stream.notes) + list(job.notes)
            deliver(job, spec, stream, pipeline.apply(latent, stream.specs, spec.seed), result, progress)
    return result
