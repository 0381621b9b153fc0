"""Autoencoder files scored on the training runs' validation clips (``validation_scores``, the
numbers a run's log shows), side by side, as a markdown table.

    python benchmarks/ae_validate.py runs/ae-v2/autoencoder.safetensors runs/ae-v2-dec-0.1/autoencoder.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.io.weights import load_model
from reencoder_cli.models.autoencoder import ARCH, Autoencoder
from reencoder_cli.models.registry import model_factories
from reencoder_cli.train.autoencoder import VALID_NOISE, validation_scores, validation_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="autoencoder weights: names or paths")
    parser.add_argument("--data", type=Path, default=Path("data/cache"), help="the music cache")
    parser.add_argument("--noise", type=float, nargs="+", default=[VALID_NOISE], help="latent noise levels")
    args = parser.parse_args()
    clips = validation_set(args.data)
    print(f"**{len(clips)} validation clips of {clips.shape[-1] / SAMPLE_RATE:.0f} s**\n")
    noisy = " | ".join(f"mel-D, latent noise {level}" for level in args.noise)
    print(f"| file | steps | mel-D | {noisy} | STFT-D | mel-D of latent mixtures |")
    print("|---|---|---|" + "---|" * len(args.noise) + "---|---|")
    for name in args.files:
        model, meta = load_model(name, model_factories(), expect_arch=ARCH)
        assert isinstance(model, Autoencoder)
        scores = [validation_scores(model.eval(), clips, torch.device("cpu"), level) for level in args.noise]
        s, steps = scores[0], meta.train.get("steps", "?")
        noisy = " | ".join(f"{x['noisy_mel']:.4f}" for x in scores)
        print(f"| {name} | {steps} | {s['mel']:.4f} | {noisy} | {s['stft']:.4f} | {s['mix_mel']:.4f} |")


if __name__ == "__main__":
    main()
