"""Process a folder tree with Ray Data: ``reencoder run IN -r -o OUT --op ...`` over many machines.

Needs the ``[ray]`` extra (``pip install -e ".[ray]"``). Each Ray actor loads the models
once and runs every file it is given through ``run.process``, the code of the CLI's own
batches, so the semantics are the CLI's: outputs are written atomically and mirror the
inputs' sub-folders, existing outputs are refused (or skipped with ``--skip-existing``, or
replaced with ``--overwrite``) before any model loads, a bad file is reported on stderr and
the batch goes on, one JSON record per file (``--records``), exit code 1 when a file failed,
2 on a usage error. For the same input the outputs are byte for byte the CLI's.

    python examples/ray_batch.py IN_DIR OUT_DIR --actors 2                     # a local Ray instance
    python examples/ray_batch.py /shared/in /shared/out --address auto --actors 16 --skip-existing

On a cluster, IN and OUT must be shared storage (NFS, a mounted bucket) seen at the same
path by every node, and every node needs reencoder installed. The environment variables
that point the library at its weights and scratch space are passed on to the workers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import ray

from reencoder_cli.batch.jobs import Job, JobResult, JobSpec, check_output, expand_inputs, plan_jobs
from reencoder_cli.batch.run import process
from reencoder_cli.cli.batch import preload
from reencoder_cli.engine.ops import parse_op
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.errors import ReencoderError, about

PASSED_ON = ("REENCODER_WEIGHTS_DIR", "REENCODER_TMPDIR", "HF_HUB_OFFLINE", "HF_HOME")
"""Environment variables the workers get from the driver (on a cluster they do not inherit them)."""


class Worker:
    """A Ray actor: one ``Pipeline`` with its models loaded for every batch it is given."""

    def __init__(self, spec: JobSpec, device: str) -> None:
        self.spec, self.pipeline = spec, Pipeline(device=device)
        preload(self.pipeline, list(spec.ops))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """Process a batch of jobs; ``batch`` columns: input, output (strings) -> record (JSON strings)."""
        jobs = [Job(str(i), str(o)) for i, o in zip(batch["input"], batch["output"])]
        return {"record": [json.dumps(process(job, self.spec, self.pipeline).record()) for job in jobs]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``argv`` None: ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="input folder (scanned recursively) or file")
    parser.add_argument("output", help="output folder")
    parser.add_argument("--op", action="append", help="an op as for `reencoder run --op` (default: upsample)")
    parser.add_argument("--name", default="{stem}.{ext}", help="output name template, as the CLI's --name")
    parser.add_argument("--seed", type=int, default=0)
    exists = parser.add_mutually_exclusive_group()
    exists.add_argument("--skip-existing", action="store_true", help="skip inputs whose output exists")
    exists.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    parser.add_argument("--records", help="write one JSON record per file to this file (the CLI's --json records)")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors, each holding the models once")
    parser.add_argument("--address", help="a running Ray cluster ('auto' on one of its nodes); default: a local one")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: one GPU per actor")
    return parser.parse_args(argv)


@dataclass
class Tally:
    """Files counted by status, and the seconds of audio done."""

    counts: Counter[str] = field(default_factory=Counter)
    audio_seconds: float = 0.0


def report(result: JobResult, tally: Tally, records: TextIO | None) -> None:
    """Count one file, print its line on stderr as the CLI does, write its record."""
    tally.counts[result.status] += 1
    tally.audio_seconds += result.duration if result.status == "done" else 0.0
    if records is not None:
        records.write(json.dumps(result.record()) + "\n")
    if result.status == "failed":
        print(f"failed {result.error}", file=sys.stderr)
    else:
        print(f"{result.status} {result.input} -> {result.output} [{result.duration:.1f} s]", file=sys.stderr)


def run(args: argparse.Namespace, tally: Tally, records: TextIO | None) -> None:
    """Plan the jobs, refuse or skip existing outputs here, process the rest on Ray, counting each in ``tally``."""
    specs = tuple(parse_op(text) for text in args.op or ["upsample"])
    spec = JobSpec(specs, seed=args.seed, overwrite=args.overwrite, skip_existing=args.skip_existing)
    label = "+".join(s.name for s in specs)
    sources = expand_inputs([args.input], recursive=True)
    planned = plan_jobs(sources, None, args.output, args.name, None, label, args.seed)
    ready = []
    for job in planned:  # as the CLI: outputs that exist or cannot be made are settled before any model loads
        result = JobResult(job.input, job.output, seed=args.seed)
        try:
            result.status = "skipped" if check_output(job, spec.overwrite, spec.skip_existing) else "ready"
        except ReencoderError as exc:
            result.error = about(exc, job.input, job.output)
        if result.status == "ready":
            ready.append(job)
        else:
            report(result, tally, records)
    if not ready:
        return
    preload(Pipeline(device="cpu"), list(specs))  # missing weights fail here, once, as in the CLI
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    if args.address:
        ray.init(address=args.address, runtime_env={"env_vars": env}, logging_level="WARNING")
    else:
        ray.init(num_cpus=args.actors, include_dashboard=False, runtime_env={"env_vars": env}, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False  # the per-file lines are the progress
    items = [{"input": job.input, "output": job.output} for job in ready]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        Worker,
        fn_constructor_args=(spec, args.device),
        batch_size=1,  # one file per call: the pool balances files of any length
        compute=ray.data.ActorPoolStrategy(size=min(args.actors, len(items))),
        num_cpus=1,
        num_gpus=1 if args.device == "cuda" else 0,
    )
    for row in dataset.iter_rows():
        report(JobResult(**json.loads(row["record"])), tally, records)
    ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    """The command; returns the exit code (0 all done or skipped, 1 a file failed, 2 a usage error)."""
    args = parse_args(argv)
    start, tally = time.perf_counter(), Tally()
    try:
        with open(args.records, "w") if args.records else contextlib.nullcontext() as records:
            run(args, tally, records)
    except ReencoderError as exc:
        print(f"ray_batch.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (OSError, ConnectionError) as exc:  # the records file, or a Ray cluster that does not answer
        print(f"ray_batch.py: error: {exc}", file=sys.stderr)
        return 2
    counts, seconds, elapsed = tally.counts, tally.audio_seconds, time.perf_counter() - start
    print(
        f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed of {counts.total()}; "
        f"{seconds / 60:.1f} min of audio in {elapsed:.1f} s, {seconds / elapsed:.1f}x real time",
        file=sys.stderr,
    )
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
