"""Latent bandwidth extension by conditional flow matching (the LatentFlowSR idea).

A velocity network on the same ConvNeXt-V2 backbone moves Gaussian noise to the
full-band latent along straight paths ``x_t = (1 - t) x_0 + t x_1``, conditioned on the
low-band latent (concatenated to its input) and on the input rate and time (AdaLN).
Latents are divided by the low-band latent's frame level (``layers.frame_level``, so the
flow runs on level-free shapes and a quiet input gets a quiet output), then normalised per
channel with statistics stored in the config. Sampling uses Euler steps: one by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reencoder_cli.models.bwe import BWEConfig
from reencoder_cli.models.layers import Backbone, frame_level, sinusoidal_embedding

ARCH = "flow"


@dataclass(frozen=True)
class FlowConfig(BWEConfig):
    """The regression model's sizes and rates, plus the latent normalisation (per-channel mean and std)."""

    latent_mean: tuple[float, ...] = ()
    latent_std: tuple[float, ...] = ()


class LatentFlow(nn.Module):
    """Velocity network v(x_t, t | z_low, rate) (``forward``) and its Euler sampler.

    Args:
        config: sizes, rates, normalisation.
    """

    mean: Tensor  # (1, D, 1) buffers, not stored
    std: Tensor

    def __init__(self, config: FlowConfig = FlowConfig()) -> None:
        super().__init__()
        self.config = config
        d = config.latent_dim
        self.rate_embedding = nn.Embedding(len(config.rates), config.cond_dim)
        self.time_mlp = nn.Sequential(nn.Linear(config.cond_dim, config.cond_dim), nn.GELU())
        self.backbone = Backbone(
            2 * d, d, config.dim, config.blocks, config.hidden, config.kernel, cond_dim=config.cond_dim
        )
        mean = torch.tensor(config.latent_mean or [0.0] * d).view(1, d, 1)
        std = torch.tensor(config.latent_std or [1.0] * d).view(1, d, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def normalize(self, z: Tensor, level: Tensor) -> Tensor:
        """Latent -> unit-scale space: z (B, D, F), level (B, 1, F) of the low band -> (B, D, F)."""
        return (z / level - self.mean) / self.std

    def denormalize(self, x: Tensor, level: Tensor) -> Tensor:
        """Unit-scale space -> latent: x (B, D, F), level (B, 1, F) of the low band -> (B, D, F)."""
        return (x * self.std + self.mean) * level

    def forward(self, x: Tensor, t: Tensor, low: Tensor, rate: Tensor) -> Tensor:
        """The velocity field. x, low: (B, D, F) normalised; t: (B,) in [0, 1]; rate: (B,) indices -> (B, D, F)."""
        cond = self.rate_embedding(rate) + self.time_mlp(sinusoidal_embedding(t * 1000, self.config.cond_dim))
        return self.backbone(torch.cat([x, low], dim=1), cond)

    @torch.no_grad()
    def sample(self, z_low: Tensor, rate: Tensor, noise: Tensor, steps: int = 1) -> Tensor:
        """Generate a full-band latent with ``steps`` Euler steps from ``noise``.

        The noise is an argument (not drawn here) so that a long file processed in chunks
        uses one noise draw for the whole file: same seed, same output, any chunking.

        Args:
            z_low: (B, D, F) latent of the sinc-upsampled input.
            rate: (B,) rate indices.
            noise: (B, D, F) standard normal starting point.
            steps: Euler steps (1 = one network evaluation).

        Returns:
            (B, D, F)
        """
        level = frame_level(z_low)
        low = self.normalize(z_low, level)
        x = noise
        for k in range(steps):
            t = torch.full((low.shape[0],), k / steps, device=low.device)
            x = x + self(x, t, low, rate) / steps
        return self.denormalize(x, level)

    @property
    def context_frames(self) -> int:
        """Latent frames of context each side for exact chunked processing (given the same noise)."""
        return self.backbone.receptive_field
