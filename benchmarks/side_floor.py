"""How loud the parametric side should be at least: ``upmix --min-side`` swept on music clips.

The decoder makes both channels' phases from their latents, nearly alike, so the decoded
side is far quieter than the true one even from the true L and R latents. This prints,
per third-octave band, the median side level (dB re the mid) of the true stereo, of the
autoencoder of L and R, and of ``stereo-s`` (random and oracle style); then, for each
floor, the L/R and side STFT distances of ``post.parametric_stereo`` on the same decodes.
The default floor was chosen on the training split; the validation split checks it.

    python benchmarks/side_floor.py --cache data/cache --split train --clips 30
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from reencoder_cli.data.crops import validation_clips
from reencoder_cli.data.music import load_manifest
from reencoder_cli.dsp import post
from reencoder_cli.engine.pipeline import Pipeline
from reencoder_cli.eval.evaluate import fit_length
from reencoder_cli.eval.metrics import stft_distance
from reencoder_cli.io import audio, audio_write

FLOORS_DB = (-np.inf, -20.0, -15.0, -12.0, -10.0, -8.0, -6.0)
SOURCES = ("AE of L and R", "stereo-s random style", "stereo-s oracle style")


def clips(cache: Path, split: str, count: int, seconds: float) -> list[np.ndarray]:
    """``count`` stereo clips (2, T), one per track, tracks shuffled with a fixed seed."""
    tracks = [t for t in load_manifest(cache, split) if t.seconds > seconds]
    random.Random(0).shuffle(tracks)
    return list(validation_clips(cache, tracks[:count], seconds, 1))


def decodes(pipe: Pipeline, wav: np.ndarray) -> dict[str, np.ndarray]:
    """The decoded stereo (2, T) of each source for one clip, before any post-step."""
    mono, length = audio.to_mono(wav), wav.shape[-1]
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref.wav"
        audio_write.write_audio(ref, wav, 44100, "FLOAT")
        out = {
            SOURCES[0]: pipe.decode(pipe.encode(wav, 44100)),
            SOURCES[1]: pipe.run(mono, 44100, ["upmix:seed=0"], keep_mid=False).wav,
            SOURCES[2]: pipe.run(mono, 44100, [f"upmix:seed=0,width_from={ref}"], keep_mid=False).wav,
        }
    return {k: fit_length(v, length) for k, v in out.items()}


def side_levels(wav: np.ndarray) -> np.ndarray:
    """(2, T) -> (bands, frames) side level in dB re the mid, per third-octave band; NaN where silent."""
    window = torch.hann_window(post.IMAGE_FFT)
    bands = post.third_octaves(post.IMAGE_FFT, 44100)
    x = torch.from_numpy(np.concatenate(post.mid_side(wav)).astype(np.float32))
    mid, side = (
        bands @ s.abs().square()
        for s in torch.stft(x, post.IMAGE_FFT, post.IMAGE_HOP, window=window, return_complex=True)
    )
    level = 10 * torch.log10(side.add(1e-12) / mid.add(1e-12))
    return torch.where(mid > mid.max() * 1e-6, level, torch.nan).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="data/cache", help="music cache (`make data`)")
    parser.add_argument("--split", default="train", choices=("train", "valid"))
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    pipe = Pipeline(device="cpu")
    refs = clips(Path(args.cache), args.split, args.clips, args.seconds)
    outs = [decodes(pipe, wav) for wav in refs]
    print(f"**{args.split} split: {len(refs)} clips of {args.seconds:g} s**\n")

    freqs = np.fft.rfftfreq(post.IMAGE_FFT, 1 / 44100)
    bands = post.third_octaves(post.IMAGE_FFT, 44100).numpy()
    centres = (bands * freqs).sum(1) / bands.sum(1)
    levels = {"true stereo": np.concatenate([side_levels(w) for w in refs], axis=1)}
    levels |= {s: np.concatenate([side_levels(o[s]) for o in outs], axis=1) for s in SOURCES}
    print("| band (Hz) | " + " | ".join(f"side of {k} (dB)" for k in levels) + " |")
    print("|---" * (len(levels) + 1) + "|")
    for b in range(0, len(centres), 3):
        print(f"| {centres[b]:.0f} | " + " | ".join(f"{np.nanmedian(v[b]):.1f}" for v in levels.values()) + " |")

    print("\n| min-side (dB) | " + " | ".join(f"{s}: L/R STFT-D | side STFT-D" for s in SOURCES) + " |")
    print("|---" * (2 * len(SOURCES) + 1) + "|")
    for floor in FLOORS_DB:
        cells = []
        for source in SOURCES:
            lr, side = [], []
            for wav, out in zip(refs, outs):
                est = post.parametric_stereo(audio.to_mono(wav), out[source], min_side_db=floor)
                lr.append(stft_distance(est, wav))
                side.append(stft_distance(post.mid_side(est)[1], post.mid_side(wav)[1]))
            cells += [f"{np.mean(lr):.3f}", f"{np.mean(side):.3f}"]
        print(f"| {floor:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
