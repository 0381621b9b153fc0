"""Seconds per autoencoder training step on this machine (the shipped sizes, random music-like data).

The spectral phase (default) or the adversarial phase (``--gan``); best of ``--steps`` after two
warm-up steps, so the figure is the step itself, not start-up. Threads as torch picks them.

    python benchmarks/train_step.py --batch 16 --steps 3
    python benchmarks/train_step.py --gan
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reencoder_cli.models.autoencoder import AutoencoderConfig
from reencoder_cli.train.autoencoder import AETrainConfig, AutoencoderTrainer
from reencoder_cli.train.loop import Runtime


class NoiseSampler:
    """Crops of decaying noise bursts: cheap, never silent, the shape the trainer expects."""

    def __init__(self, crop: int, seed: int = 0) -> None:
        self.crop, self.rng = crop, np.random.default_rng(seed)

    def mono(self, batch: int) -> np.ndarray:
        """(batch, crop) float32."""
        envelope = np.exp(-np.arange(self.crop) % 4410 / 1000.0)
        return (0.1 * envelope * self.rng.standard_normal((batch, self.crop))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--gan", action="store_true", help="time the adversarial phase")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = AETrainConfig(batch=args.batch, gan_start=0 if args.gan else 10**9)
    valid = np.zeros((1, 44100), np.float32)
    trainer = AutoencoderTrainer(AutoencoderConfig(), config, Runtime(device), NoiseSampler(config.crop), valid)
    for step in range(2):
        trainer.step(step)
    best = float("inf")
    for step in range(2, 2 + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        trainer.step(step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    audio = args.batch * config.crop / 44100
    phase = "adversarial" if args.gan else "spectral"
    threads = torch.get_num_threads()
    print(f"{phase} step, batch {args.batch}: {best:.3f} s ({audio / best:.1f} s of audio per s), {threads} threads")


if __name__ == "__main__":
    main()
