"""One batch four ways on this machine: the CLI's own batch (torch's threads, then one), GNU parallel
shards, Ray Data actors (one thread each).

The shipped weights; inputs are copies of the 22.05 kHz stereo example (real music, 10 s
each). Wall time per run, model loading and Ray's start included; all are run in
turn, ``--rounds`` times, so drift of a shared machine hits each alike. Every run's outputs
are compared with the CLI's (they must be identical).

    python benchmarks/batch_scaling.py --files 24 --rounds 3 --workers 2
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "northerners_10s_22k.flac"


def commands(inputs: Path, out: Path, workers: int) -> dict[str, list[str]]:
    """The ways, each writing into ``out``."""
    bin_dir = Path(sys.executable).parent
    return {
        "CLI batch": [str(bin_dir / "reencoder"), "upsample", str(inputs), "-o", str(out), "-q"],
        "CLI batch, 1 thread": ["env", "OMP_NUM_THREADS=1", str(bin_dir / "reencoder"), "upsample", str(inputs)]
        + ["-o", str(out), "-q"],
        "GNU parallel": ["bash", str(ROOT / "examples" / "parallel.sh"), str(inputs), str(out), str(workers)],
        "Ray Data": [sys.executable, str(ROOT / "examples" / "ray_batch.py"), str(inputs), str(out)]
        + ["--actors", str(workers)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="parallel processes / Ray actors")
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # its reencoder
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for i in range(args.files):
            shutil.copy(EXAMPLE, inputs / f"f{i:03d}.flac")
        minutes = args.files * 10 / 60
        walls: dict[str, list[float]] = {}
        out, reference = Path(tmp) / "out", Path(tmp) / "cli"
        for round_ in range(args.rounds):
            for name, command in commands(inputs, out, args.workers).items():
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, env=env)
                walls.setdefault(name, []).append(time.perf_counter() - start)
                made = sorted(p.name for p in out.glob("*.flac"))
                assert len(made) == args.files, (name, made)
                if not reference.exists():  # the first CLI run's outputs: every later run must equal them
                    shutil.copytree(out, reference)
                _, differ, errors = filecmp.cmpfiles(out, reference, made, shallow=False)
                assert not differ and not errors, (name, differ, errors)
                print(f"round {round_ + 1} {name}: {walls[name][-1]:.1f} s", flush=True)
        print(f"\n{args.files} files x 10 s = {minutes:.0f} min of audio, {args.workers} workers")
        print("| way | wall per run (s) | median | audio min per min |")
        print("|---|---|---|---|")
        for name, times in walls.items():
            median = sorted(times)[len(times) // 2]
            print(
                f"| {name} | {' / '.join(f'{t:.1f}' for t in times)} | {median:.1f} | {minutes / (median / 60):.1f} |"
            )


if __name__ == "__main__":
    main()
