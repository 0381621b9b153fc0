"""Running a command's jobs: plan, shard, preload models, process, report, summarise, exit code."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from reencoder_cli.cli.app import console
from reencoder_cli.cli.options import JobOptions
from reencoder_cli.cli.plotting import Plotter, plotter_for
from reencoder_cli.defaults import TRAINING
from reencoder_cli.errors import ReencoderError, UsageError, about

if TYPE_CHECKING:
    from reencoder_cli.batch.jobs import Job, JobResult, JobSpec
    from reencoder_cli.engine.ops import OpSpec
    from reencoder_cli.engine.pipeline import Pipeline

CHUNK_SECONDS = (1.0, 3600.0)  # --chunk-seconds: below a second the context frames cost more than the chunk
MAX_BATCH = 1024
MAX_SEED = 2**31 - 1  # as the ops' own seeds
NORM_RANGE = (-60.0, 0.0)  # --norm, dBFS


def run_batch(
    paths: list[str] | None,
    opts: JobOptions,
    specs: list[OpSpec],
    op_label: str,
    default_ext: str | None,
    keep_lowband: bool = True,
    keep_mid: bool = True,
    plot: str | None = None,
) -> None:
    """Plan and run every job of a command, report each (with ``--plot``, draw it), print the summary, exit."""
    from reencoder_cli.batch import jobs
    from reencoder_cli.io.audio import STDIO

    paths = list(paths or [])
    output = None
    if opts.output_dir is None and (len(paths) >= 2 or (opts.files_from is None and len(paths) == 1)):
        output = paths.pop() if len(paths) >= 2 else None
        if output is None:
            raise UsageError("missing OUTPUT: give INPUT OUTPUT, or -o/--output-dir for a batch")
    if opts.json and output == STDIO:
        raise UsageError("--json writes to stdout, so the output cannot be '-' too")
    check_options(opts, specs)
    template = opts.name or "{stem}." + (default_ext or "{ext}")
    sources = jobs.expand_inputs(paths, opts.recursive, opts.files_from)
    planned = jobs.plan_jobs(sources, output, opts.output_dir, template, opts.format, op_label, opts.seed)
    planned = jobs.shard(planned, *shard_of(opts.shard))
    plotter = plotter_for(plot, planned, opts.output_dir, opts.downmix, opts.quiet) if plot is not None else None
    spec = jobs.JobSpec(
        tuple(specs),
        opts.seed,
        keep_lowband,
        keep_mid,
        opts.subtype,
        opts.format,
        opts.overwrite,
        opts.skip_existing,
        jobs.parse_out_rate(opts.out_rate),
        opts.dither,
        opts.downmix,
        opts.norm,
    )
    tally = Tally(opts, plotter)
    start = time.perf_counter()
    ready = []
    for job in planned:  # outputs that exist or cannot be made are refused before any model loads
        try:
            skip = jobs.check_output(job, spec.overwrite, spec.skip_existing)
        except ReencoderError as exc:
            tally.add(jobs.JobResult(job.input, job.output, error=about(exc, job.input, job.output), seed=spec.seed))
            if opts.fail_fast:
                break
            continue
        if skip:
            tally.add(jobs.JobResult(job.input, job.output, status="skipped", seed=spec.seed))
        else:
            ready.append(job)
    if ready and not (opts.fail_fast and tally.counts["failed"]):
        run_counted(ready, spec, tally)
    counts = tally.counts
    if not opts.quiet and (len(planned) > 1 or counts["failed"] or counts["skipped"]):
        elapsed = time.perf_counter() - start
        seconds = tally.audio_seconds
        rtf = f", {seconds / elapsed:.1f}x real time" if seconds and elapsed else ""
        console.print(
            f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed of {len(planned)}; "
            f"{seconds / 60:.1f} min of audio in {elapsed:.1f} s{rtf}"
        )
    if counts["failed"] or (plotter is not None and plotter.failed):
        raise typer.Exit(1)


@dataclass
class Tally:
    """The results of a batch so far: counted by status, each reported as it comes."""

    opts: JobOptions
    plotter: Plotter | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "skipped": 0, "failed": 0})
    audio_seconds: float = 0.0

    def add(self, result: JobResult) -> None:
        """Count and report one ``JobResult``; draw its figure when it is done and ``--plot`` asks."""
        self.counts[result.status] += 1
        self.audio_seconds += result.duration if result.status == "done" else 0.0
        report(result, self.opts)
        if self.plotter is not None and result.status == "done":
            self.plotter(result)


def run_counted(planned: list[Job], spec: JobSpec, tally: Tally) -> None:
    """Load the models once, then process the jobs (in groups with --batch-size), counting each result."""
    from reencoder_cli.batch.stacked import run_jobs
    from reencoder_cli.cli.progress import BatchProgress
    from reencoder_cli.engine.pipeline import Pipeline

    opts = tally.opts
    pipeline = Pipeline(opts.autoencoder, opts.device, opts.chunk_seconds, opts.offline or None)
    preload(pipeline, spec.ops)
    with BatchProgress(console, len(planned), console.is_terminal and not opts.quiet) as progress:
        for results in run_jobs(planned, spec, pipeline, opts.batch_size, progress.stage):
            progress.finished(len(results))
            for result in results:
                tally.add(result)
            if opts.fail_fast and any(r.status == "failed" for r in results):
                break


def check_options(opts: JobOptions, specs: list[OpSpec]) -> None:
    """Refuse any option or op parameter that cannot work, before anything is read or loaded.

    Raises:
        UsageError: a value out of range, an unknown device, format or sample type, or a
            file an op reads (``--width-from``, ``mix:with=``) that does not exist.
    """
    from reencoder_cli.engine.pipeline import resolve_device
    from reencoder_cli.io import audio, audio_write

    if not (math.isfinite(opts.chunk_seconds) and CHUNK_SECONDS[0] <= opts.chunk_seconds <= CHUNK_SECONDS[1]):
        raise UsageError(
            f"--chunk-seconds {opts.chunk_seconds}: give seconds from {CHUNK_SECONDS[0]} to {CHUNK_SECONDS[1]}"
        )
    if not 1 <= opts.batch_size <= MAX_BATCH:
        raise UsageError(f"--batch-size {opts.batch_size}: give a number of files from 1 to {MAX_BATCH}")
    if not 0 <= opts.seed <= MAX_SEED:
        raise UsageError(f"--seed {opts.seed}: give a seed from 0 to {MAX_SEED}")
    resolve_device(opts.device)
    if opts.format is not None and opts.format.lower() != "latent":
        audio_write.check_format(opts.format)
    if opts.subtype is not None:
        audio_write.check_subtype(opts.subtype)
    if opts.downmix is not None and opts.downmix not in audio.DOWNMIX_CHANNELS:
        raise UsageError(f"--downmix {opts.downmix}: give mono or stereo")
    if opts.norm is not None and not NORM_RANGE[0] <= opts.norm <= NORM_RANGE[1]:
        raise UsageError(f"--norm {opts.norm}: give a peak level from {NORM_RANGE[0]} to {NORM_RANGE[1]} dBFS")
    for spec in specs:
        for name in spec.files():
            if not os.path.isfile(name):
                raise UsageError(f"{name}: no such file (read by op {spec.name})")


def shard_of(text: str | None) -> tuple[int, int]:
    """``--shard i/N`` (1-based), else the Slurm array variables, else the whole list: -> (index, count)."""
    if text is None:
        task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if task is None or count is None:
            return 0, 1
        first = os.environ.get("SLURM_ARRAY_TASK_MIN", "0")
        given = f"SLURM_ARRAY_TASK_ID={task}, SLURM_ARRAY_TASK_MIN={first}, SLURM_ARRAY_TASK_COUNT={count}"
        try:
            index, total = int(task) - int(first), int(count)
        except ValueError:
            raise UsageError(f"{given}: expected whole numbers") from None
        if total < 1 or not 0 <= index < total:
            raise UsageError(f"{given}: the task is not inside the array (pass --shard i/N to override)")
        return index, total
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected i/N, e.g. 2/8") from None
    return i - 1, n


def preload(pipeline: Pipeline, specs: Sequence[OpSpec]) -> None:
    """Load the autoencoder and every model the ops name, so a missing file fails once, up front."""
    from reencoder_cli.engine.ops import OPS
    from reencoder_cli.errors import WeightsError
    from reencoder_cli.io.weights import weights_dir

    wanted = [(pipeline.autoencoder_name, ())] + [(name, OPS[s.name].archs) for s in specs for name in s.models()]
    for name, archs in wanted:
        try:
            _ = pipeline.ae if not archs else pipeline.module(name, archs)
        except WeightsError as exc:
            if name in TRAINING and not (weights_dir() / f"{name}.safetensors").exists():
                kind, train = TRAINING[name]
                raise WeightsError(
                    f"the {kind} weights '{name}' are not shipped yet ({weights_dir()}/{name}.safetensors is missing); "
                    f"train them with `reencoder train {train}` or pass a weights path"
                ) from None
            raise exc


def report(result: JobResult, opts: JobOptions) -> None:
    """One line per file on stderr (and the JSON record on stdout with --json)."""
    if opts.json:
        sys.stdout.write(json.dumps(result.record()) + "\n")
        sys.stdout.flush()
    if result.status == "failed":
        console.print(f"[bold red]failed[/] {escape(result.error or '')}", soft_wrap=True)
    elif not opts.quiet:
        from reencoder_cli.engine.ops import model_of

        for note in result.notes:
            console.print(f"note: {note}", markup=False)
        rtf = f", {result.realtime_factor:.0f}x real time" if result.realtime_factor else ""
        models = [name for op in result.ops if (name := model_of(op))]
        extra = ", ".join(models + result.post_steps)
        console.print(
            f"{result.status} {result.input} -> {result.output}{f' ({extra})' if extra else ''} "
            f"[{result.duration:.1f} s{rtf}]",
            soft_wrap=True,
            markup=False,
        )
        if result.clipped_samples:
            console.print(
                f"[yellow]warning[/] {escape(result.output)}: {result.clipped_samples} samples limited to +/-1 "
                "(--norm scales the file under full scale; --subtype FLOAT keeps the peak)"
            )
