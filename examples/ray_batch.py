"""Upsample a folder tree with a Ray Data pipeline (``pip install -e ".[ray]"``).

Each Ray actor loads the models once and processes batches of files with the same code
as the CLI (atomic writes, one record per file); failed files are reported, not fatal.
On a cluster, point IN and OUT at shared storage and raise --actors.

    python examples/ray_batch.py IN_DIR OUT_DIR --actors 2
"""

from __future__ import annotations

import argparse

import ray

from reencoder_cli.jobs import JobSpec, expand_inputs, plan_jobs
from reencoder_cli.ops import parse_op


class Upsampler:
    """A Ray actor: the models stay loaded between batches."""

    def __init__(self, device: str) -> None:
        from reencoder_cli.pipeline import Pipeline

        self.pipeline = Pipeline(device=device)
        self.spec = JobSpec((parse_op("upsample"),), skip_existing=True)

    def __call__(self, batch: dict[str, list[str]]) -> dict[str, list[object]]:
        from reencoder_cli.jobs import Job, process

        results = [process(Job(i, o), self.spec, self.pipeline) for i, o in zip(batch["input"], batch["output"])]
        return {
            "input": [r.input for r in results],
            "status": [r.status for r in results],
            "error": [r.error or "" for r in results],
            "seconds": [r.duration for r in results],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sources = expand_inputs([args.input], recursive=True)
    jobs = plan_jobs(sources, None, args.output, "{stem}.{ext}", None, "upsample", 0)
    ray.init(num_cpus=args.actors, include_dashboard=False)
    dataset = ray.data.from_items([{"input": j.input, "output": j.output} for j in jobs])
    results = dataset.map_batches(
        Upsampler, fn_constructor_args=(args.device,), batch_size=4, concurrency=args.actors, num_cpus=1
    ).take_all()
    for row in results:
        if row["status"] == "failed":
            print(f"failed {row['error']}")
    done = [r for r in results if r["status"] == "done"]
    print(f"{len(done)} done, {len(results) - len(done)} not done, {sum(r['seconds'] for r in done) / 60:.1f} min")


if __name__ == "__main__":
    main()
