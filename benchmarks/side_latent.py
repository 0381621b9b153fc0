"""The side-latent design, tried: an upmix net that predicts the side's own latent.

The shipped upmix predicts left/right latents and keeps the input as the mid; its side
comes from the decoded channels (or, by default, a parametric side). The upmix table's
ceiling row "AE of the side + keep-mid" (side STFT-D 1.18 against the parametric ceiling's
1.79) asks whether a net trained to predict the latent of the side signal itself does
better. This script builds that training data and scores the trained net:

    python benchmarks/side_latent.py cache data/side-latents   # (mid, side) latents as "full"
    reencoder train module --latents data/side-latents --warmup 200 --threads 1 --patience 3 \\
        --validate-minutes 7 stereo --run runs/stereo-side --minutes 60
    python benchmarks/side_latent.py score runs/stereo-side/stereo.safetensors

``cache`` writes, for every shard of ``data/latents``, "mid" (copied) and "full" = the
stacked latents of the mid and of the side (L - R) / 2, so the unchanged stereo trainer
learns mid -> (mid, side). ``score`` decodes the predicted side latent and puts it under
the input (keep-mid), on the upmix table's validation clips and metrics.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.dsp import post
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval import evaluate as ev
from reencoder_cli.eval import report
from reencoder_cli.eval.metrics import stereo_metrics
from reencoder_cli.io import audio

KEYS = ("lr_stft", "lr_mel", "lr_lsd", "side_stft", "side_mel", "side_lsd")


def cache(out: Path, latents: Path, data: Path) -> None:
    """Side latents for every shard of ``latents`` (the music read from ``data``) into ``out``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    pipeline = Pipeline(chunk_seconds=60.0)
    for path in sorted(latents.glob("*/*.safetensors")):
        target = out / path.parent.name / path.name
        if target.exists():
            continue
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata()
        wav = np.load(data / json.loads(meta["track"])["path"], mmap_mode="r").T.astype(np.float32) / 32768.0
        side = pipeline.encode(post.mid_side(wav)[1], SAMPLE_RATE).z
        mid = load_file(str(path))["mid"]
        frames = min(mid.shape[-1], side.shape[-1])
        full = torch.cat([mid[..., :frames].float(), side[..., :frames]]).half().contiguous()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        save_file({"full": full, "mid": mid[..., :frames].contiguous()}, str(tmp), metadata=meta)
        os.replace(tmp, target)


def score(weights: str, data: Path) -> None:
    """Print the markdown table of the side-latent net with a random (seed 0) and the oracle style."""
    pipeline = Pipeline()
    model, _ = pipeline.module(weights, ("stereo",))
    clips = ev.stereo_clips(ev.cache_clips(data, 10.0, 1))
    rows: dict[str, list[list[float]]] = {}
    for clip in clips:
        mono = audio.to_mono(clip.wav)
        z = pipeline.encode(mono, SAMPLE_RATE)
        frames = z.z.shape[-1]
        truth = torch.cat([pipeline.encode(x, SAMPLE_RATE).z for x in post.mid_side(clip.wav)]).reshape(1, -1, frames)
        with torch.no_grad():
            styles = {"random": model.random_style(1, 0), "oracle": model.style(truth)[0]}
            for name, style in styles.items():
                mid_side = model(z.z, style).reshape(2, -1, frames)
                decoded = ev.fit_length(pipeline.decode(z.with_z(mid_side)), clip.wav.shape[-1])
                kept = post.from_mid_side(mono, decoded[1:])
                outputs = {
                    "+ keep-mid, decoded side latent": kept,
                    "(pure latent)": post.from_mid_side(decoded[:1], decoded[1:]),
                    "+ keep-mid, parametric side": post.parametric_stereo(mono, kept),
                }
                for label, out in outputs.items():
                    metrics = stereo_metrics(out, clip.wav)
                    rows.setdefault(f"side-latent net, {name} style {label}", []).append([metrics[k] for k in KEYS])
    table = [ev.Row(label, dict(zip(KEYS, np.mean(values, axis=0).tolist()))) for label, values in rows.items()]
    print(report.markdown(table, KEYS, f"side-latent design: {len(clips)} clips, {10 * len(clips)} s"), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("out", type=Path)
    c.add_argument("--latents", type=Path, default=Path("data/latents"))
    s = sub.add_parser("score")
    s.add_argument("weights")
    for p in (c, s):
        p.add_argument("--data", type=Path, default=Path("data/cache"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "cache":
        cache(args.out, args.latents, args.data)
    else:
        score(args.weights, args.data)


if __name__ == "__main__":
    main()
