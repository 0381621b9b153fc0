"""Level of the autoencoder's reconstruction against its input, per frequency band.

The distances of ``reencoder eval --task reconstruct`` say how far the reconstruction is;
this says in which direction: a decoder that plays quiet or muffled shows negative dB,
growing with frequency. Median over validation clips (mono downmix) of
``10 log10(E_out / E_in)`` per band.

    python benchmarks/band_levels.py --weights autoencoder --cache data/cache --clips 21
    python benchmarks/band_levels.py --weights runs/ae/autoencoder.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

EDGES = (0, 250, 1000, 4000, 8000, 11025, 16000, 22050)


def band_levels(out: np.ndarray, ref: np.ndarray, sample_rate: int = 44100) -> list[float]:
    """dB of ``out`` relative to ``ref`` in each band of ``EDGES``: (T,), (T,) -> one value per band."""
    freqs = np.fft.rfftfreq(ref.shape[-1], 1 / sample_rate)
    power_out, power_ref = (np.abs(np.fft.rfft(x)) ** 2 for x in (out, ref))
    bands = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(EDGES[:-1], EDGES[1:])]
    return [float(10 * np.log10(power_out[b].sum() / max(power_ref[b].sum(), 1e-20))) for b in bands]


def main() -> None:
    from reencoder_cli.evaluate import cache_clips
    from reencoder_cli.pipeline import model_factories
    from reencoder_cli.weights import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="autoencoder", help="weights name or path")
    parser.add_argument("--cache", default="data/cache", help="music cache (validation split)")
    parser.add_argument("--clips", type=int, default=21)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    ae = load_model(args.weights, model_factories(), expect_arch="autoencoder")[0].float().eval()
    levels = []
    for clip in cache_clips(Path(args.cache), args.seconds, 1)[: args.clips]:
        x = torch.from_numpy(clip.wav.mean(axis=0, keepdims=True).astype(np.float32))
        with torch.no_grad():
            y = ae.decode(ae.encode(x))[..., : x.shape[-1]]
        levels.append(band_levels(y[0].numpy(), x[0].numpy()))
    print("| band (Hz) | " + " | ".join(f"{lo}-{hi}" for lo, hi in zip(EDGES[:-1], EDGES[1:])) + " |")
    print("|---" * len(EDGES) + "|")
    print(f"| dB, median of {len(levels)} | " + " | ".join(f"{v:+.1f}" for v in np.median(levels, axis=0)) + " |")


if __name__ == "__main__":
    main()
