"""Can anything but the true stereo tell `upmix` how wide each band should be?

With a random style the parametric side sits at the `--min-side` floor (BENCHMARKS.md), and
only a style taken from the true stereo brings the side STFT-D near the issue's bar. This
scores, on the validation clips, the parametric side of `stereo-s`'s random-style decode
(seed = clip index, as `reencoder eval`) with per-band widths (side/mid power per third
octave, one per clip, given as the reference width at style-mix 1) from:

- the true stereo (the oracle, `--width-from`);
- the decode's own widths plus a per-band offset (the median difference to the truth on
  training clips): is the too-quiet decoded side an estimate once calibrated?
- the training clips' mean width per band (the typical image, no content);
- a ridge regression from the mono downmix (per band: mean level re the clip's, its
  standard deviation over frames and its mean frame-to-frame change), fitted on one
  clip per training track;

against the default (the floor, no reference); and each estimate's mean absolute error.

    python benchmarks/side_width_estimates.py --cache data/cache
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from side_floor import clips

from reencoder_cli.dsp import post
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval.evaluate import STEREO_IMAGE_DB, fit_length
from reencoder_cli.eval.metrics import stft_distance
from reencoder_cli.io import audio

RIDGE = 10.0


def width_db(wav: np.ndarray) -> np.ndarray:
    """(2, T) -> (bands,) side-to-mid power per third-octave band, dB."""
    return 10 * np.log10(post.band_widths(post.band_powers(wav)) + 1e-6)


def mono_features(mono: np.ndarray) -> np.ndarray:
    """(1, T) -> (3 * bands,): per band, mean level re the clip's, std over frames, mean |frame change| (dB)."""
    x = torch.from_numpy(np.ascontiguousarray(mono[0], dtype=np.float32))
    window = torch.hann_window(post.IMAGE_FFT)
    spec = torch.stft(x, post.IMAGE_FFT, post.IMAGE_HOP, window=window, return_complex=True)
    level = 10 * torch.log10(post.third_octaves(post.IMAGE_FFT, 44100) @ spec.abs().square() + 1e-10)
    change = torch.diff(level, dim=1).abs().mean(1)
    return torch.cat([level.mean(1) - level.mean(), level.std(1), change]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--train-clips", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    pipe = Pipeline(device="cpu")

    def load(split: str, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        refs = [
            w for w in clips(Path(args.cache), split, count, args.seconds) if post.side_to_mid_db(w) >= STEREO_IMAGE_DB
        ]
        decodes = [
            fit_length(pipe.run(audio.to_mono(w), 44100, [f"upmix:seed={i}"], keep_mid=False).wav, w.shape[-1])
            for i, w in enumerate(refs)
        ]
        return refs, decodes

    train, train_decodes = load("train", args.train_clips)
    true_train = np.stack([width_db(w) for w in train])
    offset = np.median(true_train - np.stack([width_db(d) for d in train_decodes]), axis=0)
    features = np.stack([mono_features(audio.to_mono(w)) for w in train])
    mean, scale = features.mean(0), features.std(0) + 1e-6
    x = (features - mean) / scale
    typical = true_train.mean(0)
    weights = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ (true_train - typical))

    valid, decodes = load("valid", 10**6)
    truth = np.stack([width_db(w) for w in valid])
    valid_features = np.stack([mono_features(audio.to_mono(w)) for w in valid])
    estimates: dict[str, np.ndarray | None] = {
        "none: the floor (default)": None,
        "the true stereo (oracle)": truth,
        "the decode's own + training offset": np.stack([width_db(d) for d in decodes]) + offset,
        "training mean (no content)": np.broadcast_to(typical, truth.shape),
        "ridge from the mono": typical + ((valid_features - mean) / scale) @ weights,
    }
    print(
        f"**stereo-s random style, parametric side: {len(train)} training clips, "
        f"{len(valid)} validation clips of {args.seconds:g} s**\n"
    )
    print("| widths from | mean abs error (dB) | L/R STFT-D | side STFT-D |")
    print("|---|---|---|---|")
    for name, est in estimates.items():
        lr, side = [], []
        for k, (wav, decode) in enumerate(zip(valid, decodes)):
            reference = None if est is None else np.minimum(10 ** (est[k] / 10), 1.0)
            out = post.parametric_stereo(audio.to_mono(wav), decode, reference=reference, style_mix=1.0)
            lr.append(stft_distance(out, wav))
            side.append(stft_distance(post.mid_side(out)[1], post.mid_side(wav)[1]))
        error = "-" if est is None else f"{np.abs(est - truth).mean():.1f}"
        print(f"| {name} | {error} | {np.mean(lr):.3f} | {np.mean(side):.3f} |", flush=True)


if __name__ == "__main__":
    main()
