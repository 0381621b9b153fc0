"""What `upmix --temperature` trades: closeness to the true stereo against variety across seeds.

For each stereo validation clip (the `--task upmix` clips: mono downmix, 10 s) and each
temperature, the clip is upmixed with the default post-steps and two seeds (the clip's index
and the index + 1000). Printed as markdown: the mean over clips of the L/R and side
STFT-D to the true stereo (the first seed), and of the L/R STFT-D between the two seeds'
outputs (how different two images are), with dual mono's distance to the truth for scale.

    python benchmarks/upmix_temperature.py --cache data/cache
    python benchmarks/upmix_temperature.py --temperatures 0.25 0.5   # some rows (the same numbers)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.dsp import baselines
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval.metrics import stereo_metrics
from reencoder_cli.io import audio

TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)
OTHER_SEED = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--model", default="stereo-s")
    parser.add_argument("--temperatures", type=float, nargs="+", default=TEMPERATURES)
    args = parser.parse_args()

    clips = ev.stereo_clips(ev.cache_clips(Path(args.cache), args.seconds, 1))
    pipeline = Pipeline(device="cpu")
    monos = [audio.to_mono(c.wav) for c in clips]
    dual = np.mean([stereo_metrics(baselines.dual_mono(m), c.wav)["lr_stft"] for c, m in zip(clips, monos)])
    title = f"{args.model}, {len(clips)} validation clips of {args.seconds:g} s"
    print(f"**{title} (dual mono's L/R STFT-D {dual:.3f})**\n")
    print("| temperature | L/R STFT-D | over dual mono | side STFT-D | L/R STFT-D between two seeds |")
    print("|---|---|---|---|---|")
    for t in args.temperatures:
        truth, between = [], []
        for i, (clip, mono) in enumerate(zip(clips, monos)):
            a, b = (
                ev.fit_length(
                    pipeline.run(mono, SAMPLE_RATE, [f"upmix:model={args.model},seed={s},temperature={t}"]).wav,
                    clip.wav.shape[-1],
                )
                for s in (i, i + OTHER_SEED)
            )
            truth.append(stereo_metrics(a, clip.wav))
            between.append(stereo_metrics(b, a)["lr_stft"])
        lr, side = (float(np.mean([m[k] for m in truth])) for k in ("lr_stft", "side_stft"))
        print(f"| {t:g} | {lr:.3f} | {lr / dual - 1:+.1%} | {side:.3f} | {np.mean(between):.3f} |")


if __name__ == "__main__":
    main()
