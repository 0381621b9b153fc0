"""Does the upmix's image follow the style? Output side/mid against the reference's, and across ``--style-mix``.

Each validation clip's mono downmix is upmixed (CLI defaults: keep-mid, parametric side)
with references of set widths (another clip's stereo with its side scaled so that its
side-to-mid power sits at -20, -12 and -4 dB), at several ``style_mix`` values, and with
random styles (seeds 0-3). Printed: the median over clips of the output's side-to-mid
power (dB) per reference width and lambda, and the spread across seeds.

    python benchmarks/width_control.py --cache data/cache --clips 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from side_floor import clips

from reencoder_cli.dsp import post
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.io import audio, audio_write

WIDTHS_DB = (-20.0, -12.0, -4.0)
MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
SEEDS = (0, 1, 2, 3)


def with_width(wav: np.ndarray, db: float) -> np.ndarray:
    """(2, T) stereo with its side scaled so that its side-to-mid power is ``db``."""
    mid, side = post.mid_side(wav)
    return post.from_mid_side(mid, side * 10 ** ((db - post.side_to_mid_db(wav)) / 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    pipe = Pipeline(device="cpu")
    music = clips(Path(args.cache), "valid", 2 * args.clips, args.seconds)
    sources, references = music[: args.clips], music[args.clips :]
    table = {(db, mix): [] for db in WIDTHS_DB for mix in MIXES}
    seeds: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (source, reference) in enumerate(zip(sources, references)):
            mono = audio.to_mono(source)
            for db in WIDTHS_DB:
                path = Path(tmp) / f"ref{i}_{db:g}.wav"
                audio_write.write_audio(path, with_width(reference, db), 44100, "FLOAT")
                for mix in MIXES:
                    out = pipe.run(mono, 44100, [f"upmix:seed=0,width_from={path},style_mix={mix}"]).wav
                    table[db, mix].append(post.side_to_mid_db(out))
            seeds.append([post.side_to_mid_db(pipe.run(mono, 44100, [f"upmix:seed={s}"]).wav) for s in SEEDS])
            print(f"clip {i + 1}/{len(sources)}", file=sys.stderr, flush=True)
    print(f"\n**{len(sources)} validation clips of {args.seconds:g} s; output side/mid (dB), median over clips**\n")
    print("| reference side/mid | " + " | ".join(f"style-mix {m:g}" for m in MIXES) + " |")
    print("|---" * (len(MIXES) + 1) + "|")
    for db in WIDTHS_DB:
        print(f"| {db:g} dB | " + " | ".join(f"{np.median(table[db, m]):.1f}" for m in MIXES) + " |")
    spread = np.ptp(np.array(seeds), axis=1)
    print(
        f"\nrandom styles (seeds {SEEDS[0]}-{SEEDS[-1]}, no reference): median {np.median(seeds):.1f} dB, "
        f"spread across seeds per clip {np.median(spread):.1f} dB (median), {spread.max():.1f} dB (max)"
    )


if __name__ == "__main__":
    main()
