"""CLI start-up time and peak memory of long files through the pipeline.

Full-size models with random weights (memory and speed do not depend on the values) are
written to a temporary weights folder; a long generated stereo file at 22.05 kHz is
upsampled by the real CLI in a child process, whose peak RSS is read from getrusage.

    python benchmarks/cli_startup_memory.py --minutes 10
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from common import full_size_weights


def startup_seconds(runs: int = 10) -> float:
    """Median wall time of ``reencoder --help``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "reencoder_cli", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run the CLI in a child; return (its peak RSS in MB, wall seconds)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reencoder_cli", *args], check=True, env=env)
    seconds = time.perf_counter() - start
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    print(f"reencoder --help: {startup_seconds():.3f} s (median of 10)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        full_size_weights(folder / "weights")
        rate = 22050
        rng = np.random.default_rng(0)
        # written in blocks: a parent holding the whole signal would inflate the child's peak RSS,
        # which counts the parent's pages between fork and exec
        with sf.SoundFile(folder / "long.wav", "w", rate, 2, "PCM_16") as f:
            for _ in range(round(args.minutes * 6)):
                f.write((0.1 * rng.standard_normal((10 * rate, 2))).astype(np.float32))
        env = dict(os.environ, REENCODER_WEIGHTS_DIR=str(folder / "weights"), OMP_NUM_THREADS=str(args.threads))
        rss, seconds = peak_rss_mb(["upsample", str(folder / "long.wav"), str(folder / "out.wav"), "-q"], env)
        audio_mb = args.minutes * 60 * 44100 * 2 * 4 / 1e6
        print(
            f"upsample {args.minutes:g} min stereo 22.05 kHz -> 44.1 kHz: peak RSS {rss:.0f} MB "
            f"(the 44.1 kHz float32 audio alone is {audio_mb:.0f} MB), {seconds:.1f} s wall, "
            f"{args.threads} threads"
        )


if __name__ == "__main__":
    main()
