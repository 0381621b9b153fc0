"""Where does `upsample` draw its high band too loud or too quiet? Per quarter of 11.025-22.05 kHz.

For each reference clip (the validation split of a music cache, or files and folders), the
clip is resampled to the input rate and upsampled with the given model (keep-lowband, the
default). Printed as markdown: the mean over clips of the output's log power minus the
reference's (dB, over every STFT cell of the quarter, as the LSD sees them), and the
share of the reference's cells above 16.5 kHz that hold digital silence (power under
1e-9: a lossy encoder's zeroed bands), which the log-spectral distances charge in full
to anything drawn there.

    python benchmarks/highband_level.py --cache data/cache --seconds 4
    python benchmarks/highband_level.py /usr/share/hyperrogue/music /usr/share/games/singularity/music --seconds 8
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval.metrics import BAND_CUTOFF, log_power
from reencoder_cli.io import audio

QUARTERS = 4
HOLE_FROM_HZ = 16500.0
HOLE_LOG10_POWER = -9.0


def mono_log_power(wav: np.ndarray) -> torch.Tensor:
    """(C, T) -> log10 power of the channel mean, (bins, frames), the LSD's STFT."""
    return log_power(torch.as_tensor(wav.mean(axis=0, keepdims=True), dtype=torch.float32))[0]


def above(power: torch.Tensor, hz: float) -> torch.Tensor:
    """(bins, frames) -> the rows of the bins at and above ``hz``."""
    return power[round(power.shape[0] * hz / (SAMPLE_RATE / 2)) :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("refs", nargs="*", help="reference files or folders (default: --cache's validation split)")
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=int, default=22050, help="input rate")
    parser.add_argument("--model", default="bwe-s-l1")
    args = parser.parse_args()

    clips = ev.load_clips(args.refs, args.seconds) if args.refs else ev.cache_clips(Path(args.cache), args.seconds, 1)
    pipeline = Pipeline(device="cpu")
    level, holes = [], []
    for clip in clips:
        low = audio.resample(clip.wav, SAMPLE_RATE, args.rate)
        est = ev.fit_length(pipeline.run(low, args.rate, [f"upsample:model={args.model}"]).wav, clip.wav.shape[-1])
        ref_p, est_p = mono_log_power(clip.wav), mono_log_power(est)
        holes.append(float((above(ref_p, HOLE_FROM_HZ) < HOLE_LOG10_POWER).float().mean()))
        high = above(10 * (est_p - ref_p), BAND_CUTOFF)
        level.append([float(q.mean()) for q in torch.chunk(high, QUARTERS, dim=0)])
    edges = np.linspace(BAND_CUTOFF, SAMPLE_RATE / 2, QUARTERS + 1) / 1000
    source = " ".join(args.refs) if args.refs else f"validation of {args.cache}"
    print(f"**{args.model} from {args.rate} Hz, {len(clips)} clips of {args.seconds:g} s ({source})**\n")
    bands = " | ".join(f"{a:.1f}-{b:.1f} kHz" for a, b in zip(edges, edges[1:]))
    print(f"| {bands} | silent cells > {HOLE_FROM_HZ / 1000:g} kHz |")
    print("|" + "---|" * (QUARTERS + 1))
    print("| " + " | ".join(f"{v:+.1f} dB" for v in np.mean(level, axis=0)) + f" | {np.mean(holes):.1%} |")


if __name__ == "__main__":
    main()
