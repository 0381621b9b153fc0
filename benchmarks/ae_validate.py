"""Autoencoder files scored on the training runs' validation clips (``validation_scores``, the
numbers a run's log shows), side by side, as a markdown table.

    python benchmarks/ae_validate.py runs/ae-v2/autoencoder.safetensors runs/ae-v2-dec-0.1/autoencoder.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from reencoder_cli.io.weights import load_model
from reencoder_cli.models.autoencoder import ARCH, Autoencoder
from reencoder_cli.models.registry import model_factories
from reencoder_cli.train.autoencoder import VALID_NOISE, validation_scores, validation_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="autoencoder weights: names or paths")
    parser.add_argument("--data", type=Path, default=Path("data/cache"), help="the music cache")
    args = parser.parse_args()
    clips = validation_set(args.data)
    print(f"**{len(clips)} validation clips of {clips.shape[-1] / 44100:.0f} s**\n")
    print(f"| file | steps | mel-D | mel-D, latent noise {VALID_NOISE} | STFT-D | mel-D of latent mixtures |")
    print("|---|---|---|---|---|---|")
    for name in args.files:
        model, meta = load_model(name, model_factories(), expect_arch=ARCH)
        assert isinstance(model, Autoencoder)
        s = validation_scores(model.eval(), clips, torch.device("cpu"))
        steps = meta.train.get("steps", "?")
        print(f"| {name} | {steps} | {s['mel']:.4f} | {s['noisy_mel']:.4f} | {s['stft']:.4f} | {s['mix_mel']:.4f} |")


if __name__ == "__main__":
    main()
