"""Latent bandwidth extension (regression): the latent of a sinc-upsampled low-rate signal -> full band.

One model serves every supported input rate: the rate is an AdaLN condition. The network
predicts a residual on top of its input latent, which already holds the low band, and is
level-equivariant (``layers.frame_level``): scaling the input scales the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reencoder_cli.models.layers import Backbone, frame_level

ARCH = "bwe"
RATES: tuple[int, ...] = (8000, 11025, 12000, 16000, 22050, 24000)


@dataclass(frozen=True)
class BWEConfig:
    """Sizes. S: 4 blocks x 512 (hidden 1024); M: 8 blocks x 768 (hidden 1472)."""

    latent_dim: int = 64
    dim: int = 512
    blocks: int = 4
    hidden: int = 1024
    kernel: int = 7
    cond_dim: int = 64
    rates: tuple[int, ...] = RATES


BWE_SIZES = {"S": BWEConfig(), "M": BWEConfig(dim=768, blocks=8, hidden=1472)}


def rate_index(rates: tuple[int, ...], rate: int) -> int:
    """Index of the condition to use for an input at ``rate`` Hz: the largest supported rate <= ``rate``.

    Raises:
        ValueError: ``rate`` is below the lowest supported rate.
    """
    usable = [i for i, r in enumerate(rates) if r <= rate]
    if not usable:
        raise ValueError(f"input rate {rate} Hz is below the lowest supported rate ({min(rates)} Hz)")
    return max(usable, key=lambda i: rates[i])


class LatentBWE(nn.Module):
    """ConvNeXt-V2 backbone, conditioned on the input rate, predicting a latent residual.

    Args:
        config: sizes and supported rates.
    """

    def __init__(self, config: BWEConfig = BWEConfig()) -> None:
        super().__init__()
        self.config = config
        self.rate_embedding = nn.Embedding(len(config.rates), config.cond_dim)
        self.backbone = Backbone(
            config.latent_dim,
            config.latent_dim,
            config.dim,
            config.blocks,
            config.hidden,
            config.kernel,
            cond_dim=config.cond_dim,
        )

    def forward(self, z: Tensor, rate: Tensor) -> Tensor:
        """z: (B, D, F) latent of the sinc-upsampled input, rate: (B,) rate indices -> (B, D, F)."""
        level = frame_level(z)
        return z + level * self.backbone(z / level, self.rate_embedding(rate))

    @property
    def context_frames(self) -> int:
        """Latent frames of context each side for exact chunked processing."""
        return self.backbone.receptive_field

    def rate_tensor(self, rate: int, batch: int, device: torch.device | str = "cpu") -> Tensor:
        """Condition indices for ``batch`` items at input rate ``rate`` Hz: -> (B,)."""
        return torch.full((batch,), rate_index(self.config.rates, rate), dtype=torch.long, device=device)
