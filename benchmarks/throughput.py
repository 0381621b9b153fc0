"""Batch throughput of the CLI: files per minute on many short files, audio minutes per minute on long ones.

Full-size models with random weights (speed does not depend on the values). Each
configuration runs the real CLI in a child process, on generated stereo 22.05 kHz files.

    python benchmarks/throughput.py --short 100 --short-seconds 5 --long 2 --long-minutes 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from common import full_size_weights

RATE = 22050


def write_files(folder: Path, count: int, seconds: float) -> float:
    """``count`` stereo files of noise-modulated tones; returns total seconds of audio."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = int(seconds * RATE)
    for i in range(count):
        t = np.arange(n) / RATE
        tone = np.sin(2 * np.pi * (110 + 10 * i) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t))
        wav = 0.2 * np.stack([tone, np.roll(tone, 100)]) + 0.01 * rng.standard_normal((2, n))
        sf.write(folder / f"f{i:03d}.wav", wav.T.astype(np.float32), RATE, subtype="PCM_16")
    return count * seconds


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reencoder_cli", *args], check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--short-seconds", type=float, default=5.0)
    parser.add_argument("--long", type=int, default=2)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = dict(
            os.environ,
            REENCODER_WEIGHTS_DIR=str(full_size_weights(root / "weights")),
            OMP_NUM_THREADS=str(args.threads),
        )
        short_audio = write_files(root / "short", args.short, args.short_seconds)
        long_audio = write_files(root / "long", args.long, args.long_minutes * 60)
        print(f"{args.threads} threads; stereo 22.05 kHz inputs; model loading and I/O included")
        for op in ("upsample", "upmix"):
            for batch in (1, 8):
                wall = run(
                    [op, str(root / "short"), "-o", str(root / f"out-{op}-{batch}"), "-q", "--batch-size", str(batch)],
                    env,
                )
                print(
                    f"{op:8s} {args.short} x {args.short_seconds:g} s, --batch-size {batch}: {wall:6.1f} s, "
                    f"{args.short / wall * 60:6.1f} files/min, {short_audio / wall:5.1f}x real time"
                )
            wall = run([op, str(root / "long"), "-o", str(root / f"long-{op}"), "-q"], env)
            print(
                f"{op:8s} {args.long} x {args.long_minutes:g} min: {wall:6.1f} s, "
                f"{long_audio / 60 / (wall / 60):5.1f} audio min per min"
            )


if __name__ == "__main__":
    main()
