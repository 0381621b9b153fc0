"""Latent mono-to-stereo: a variational style encoder and an upmix network.

The style encoder maps the true left/right latents to the mean and log-variance of a
style vector ``c`` (mean-pooled over time, so one vector per clip). The upmix network maps
the mono latent and ``c`` (an AdaLN condition) to the stacked left/right latents, as a
residual over dual mono. At inference ``c`` comes from the prior (``--seed``), from a
reference stereo file (``--width-from``), or a blend of the two (``--style-mix``). The
prior is the Gaussian of the training styles (``fit_prior``), not N(0, I): with the small
KL weight the styles sit off-centre in a narrower cloud, and draws from N(0, I) are images
no music had. Both networks see level-normalised latents (``layers.frame_level``): the
style does not depend on loudness, and the side the upmix adds scales with its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reencoder_cli.models.layers import Backbone, frame_level

ARCH = "stereo"


@dataclass(frozen=True)
class StereoConfig:
    """Sizes of the upmix network (S by default) and of the 2-block style encoder."""

    latent_dim: int = 64
    style_dim: int = 64
    dim: int = 512
    blocks: int = 4
    hidden: int = 1024
    kernel: int = 7
    style_width: int = 256
    style_blocks: int = 2


class StyleEncoder(nn.Module):
    """(left, right) latents -> mean and log-variance of the style vector."""

    def __init__(self, config: StereoConfig) -> None:
        super().__init__()
        c = config
        self.backbone = Backbone(2 * c.latent_dim, 2 * c.style_dim, c.style_width, c.style_blocks, 2 * c.style_width)

    def frames(self, z_lr: Tensor) -> Tensor:
        """z_lr: (B, 2D, F) stacked left/right -> (B, 2 style_dim, F) per-frame mean and log-variance,
        from the level-normalised latents; the style is their average over time."""
        return self.backbone(z_lr / frame_level(z_lr))

    def forward(self, z_lr: Tensor) -> tuple[Tensor, Tensor]:
        """z_lr: (B, 2D, F) stacked left/right -> mean, logvar: (B, style_dim) each."""
        mean, logvar = self.frames(z_lr).mean(dim=-1).chunk(2, dim=-1)
        return mean, logvar.clamp(-10.0, 10.0)


class LatentUpmix(nn.Module):
    """Mono latent and style -> stacked left/right latents, with the style encoder it was trained with.

    Args:
        config: sizes.
    """

    prior_mean: Tensor  # (style_dim,)
    prior_scale: Tensor  # (style_dim, style_dim) lower triangular

    def __init__(self, config: StereoConfig = StereoConfig()) -> None:
        super().__init__()
        self.config = config
        c = config
        self.style = StyleEncoder(c)
        self.backbone = Backbone(
            c.latent_dim, 2 * c.latent_dim, c.dim, c.blocks, c.hidden, c.kernel, cond_dim=c.style_dim
        )
        # the random style's Gaussian: N(prior_mean, prior_scale prior_scale^T); N(0, I) until fitted
        self.register_buffer("prior_mean", torch.zeros(c.style_dim))
        self.register_buffer("prior_scale", torch.eye(c.style_dim))

    def forward(self, z_mono: Tensor, style: Tensor) -> Tensor:
        """z_mono: (B, D, F), style: (B, style_dim) -> (B, 2D, F) stacked (left, right)."""
        level = frame_level(z_mono)
        return z_mono.repeat(1, 2, 1) + level * self.backbone(z_mono / level, style)

    def random_style(
        self, batch: int, seed: int, temperature: float = 1.0, device: torch.device | str = "cpu"
    ) -> Tensor:
        """A style vector from the prior, its spread scaled by ``temperature`` (0: the prior's
        mean), the same for the same seed on any device: -> (B, style_dim)."""
        generator = torch.Generator().manual_seed(seed)
        noise = temperature * torch.randn(batch, self.config.style_dim, generator=generator)
        return (self.prior_mean.cpu() + noise @ self.prior_scale.cpu().T).to(device)

    @torch.no_grad()
    def fit_prior(self, mean: Tensor, logvar: Tensor) -> None:
        """Make the prior the Gaussian of the styles of many training crops (their mixture's
        mean and covariance).

        Args:
            mean, logvar: (N, style_dim) the style encoder's outputs on N crops, N > style_dim.
        """
        mean64 = mean.double()
        cov = torch.cov(mean64.T) + torch.diag(logvar.double().exp().mean(dim=0))
        self.prior_mean.copy_(mean64.mean(dim=0))
        self.prior_scale.copy_(torch.linalg.cholesky(cov))

    @property
    def context_frames(self) -> int:
        """Latent frames of context each side for exact chunked processing."""
        return self.backbone.receptive_field
