"""How wide does stereo come back through the latent, and would mid/side latents do better?

`reencoder encode` keeps one latent per channel, left and right, and the decoder makes each
channel's phases from its own latent. On the validation clips with a stereo image (those of
`reencoder eval --task upmix`) this prints the stereo metrics (DESIGN.md) and the clips'
median side-to-mid power of:

- left and right encoded and decoded (what `encode` / `decode` do);
- the mid and side latents taken from those by latent arithmetic ((zL + zR) / 2 and
  (zL - zR) / 2), decoded, and L = M + S, R = M - S;
- the mid and side signals encoded and decoded each (a mid/side latent file).

    python benchmarks/stereo_latent.py --cache data/cache
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from reencoder_cli.dsp import post
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval.metrics import stereo_metrics

KEYS = ("lr_stft", "lr_mel", "lr_lsd", "mid_stft", "mid_mel", "side_stft", "side_mel", "side_lsd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    pipe = Pipeline(device="cpu")

    def left_right(wav: np.ndarray) -> np.ndarray:
        return pipe.decode(pipe.encode(wav, 44100))

    def latent_mid_side(wav: np.ndarray) -> np.ndarray:
        latent = pipe.encode(wav, 44100)
        z = latent.z
        mid, side = pipe.decode(dataclasses.replace(latent, z=torch.stack([z[0] + z[1], z[0] - z[1]]) / 2))
        return post.from_mid_side(mid[None], side[None])

    def signal_mid_side(wav: np.ndarray) -> np.ndarray:
        mid, side = pipe.decode(pipe.encode(np.concatenate(post.mid_side(wav)), 44100))
        return post.from_mid_side(mid[None], side[None])

    systems = {
        "left and right latents (encode / decode)": left_right,
        "mid and side by latent arithmetic": latent_mid_side,
        "mid and side signals encoded": signal_mid_side,
    }
    clips = ev.stereo_clips(ev.cache_clips(Path(args.cache), args.seconds, 1))
    print(f"**{len(clips)} validation clips of {args.seconds:g} s with a stereo image**\n")
    print("| system | " + " | ".join(KEYS) + " | side/mid (dB, median) |")
    print("|---" * (len(KEYS) + 2) + "|")
    truth = np.median([post.side_to_mid_db(c.wav) for c in clips])
    print("| the original | " + " | ".join("0.000" for _ in KEYS) + f" | {truth:.1f} |")
    for name, system in systems.items():
        outs = [ev.fit_length(system(c.wav), c.wav.shape[-1]) for c in clips]
        scores = [stereo_metrics(o, c.wav) for o, c in zip(outs, clips)]
        width = np.median([post.side_to_mid_db(o) for o in outs])
        cells = " | ".join(f"{np.mean([s[k] for s in scores]):.3f}" for k in KEYS)
        print(f"| {name} | {cells} | {width:.1f} |", flush=True)


if __name__ == "__main__":
    main()
