"""Building blocks shared by the autoencoder and every latent module.

Module inputs and outputs are ``(B, C, F)``: batch, channels, frames (blocks work
channels-last inside). A condition vector, when there is
one, is ``(B, K)`` and modulates every block through AdaLN.

Every block here is local in time (convolutions, and a GRN whose statistic is taken over a
moving window rather than the whole clip), so a long signal processed in chunks with
enough context gives the same result as one pass, whatever its length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class GRN(nn.Module):
    """Global Response Normalization (ConvNeXt-V2) with a windowed statistic, channels-last.

    ConvNeXt-V2 takes each channel's L2 norm over the whole clip; here it is the RMS over a
    centered moving window of ``window`` frames, so the result depends only on nearby
    frames (chunking-invariant). Channels then compete through division by their mean.

    Args:
        dim: channels C.
        window: frames in the moving window (made odd).
    """

    def __init__(self, dim: int, window: int = 43) -> None:
        super().__init__()
        self.window = window | 1
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, F, C) -> (B, F, C)."""
        energy = F.avg_pool1d(
            x.square().transpose(1, 2), self.window, stride=1, padding=self.window // 2, count_include_pad=False
        ).transpose(1, 2)
        gx = energy.clamp_min(1e-12).sqrt()
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class AdaLN(nn.Module):
    """LayerNorm over channels (channels-last), with scale and shift from a condition (learned when none).

    Args:
        dim: channels C.
        cond_dim: size K of the condition vector; 0 = plain affine LayerNorm.
    """

    def __init__(self, dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=cond_dim == 0, eps=1e-6)
        self.modulation = nn.Linear(cond_dim, 2 * dim) if cond_dim else None
        if self.modulation is not None:
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x: (B, F, C), cond: (B, K) -> (B, F, C)."""
        y = self.norm(x)
        if self.modulation is None:
            return y
        if cond is None:
            raise ValueError("this block is conditioned: pass cond (B, K)")
        scale, shift = self.modulation(cond).unsqueeze(1).chunk(2, dim=-1)
        return y * (1 + scale) + shift


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block: depthwise conv, (Ada)LN, pointwise MLP (with GRN in V2 style), residual.

    Works channels-last, where the pointwise layers are plain matrix products (about twice
    as fast on CPU as 1x1 convolutions).

    Args:
        dim: channels C.
        hidden: MLP hidden channels.
        kernel: depthwise kernel size (odd).
        cond_dim: condition size K for AdaLN, 0 for none.
        grn: use GRN in the MLP (ConvNeXt-V2) instead of a LayerScale (ConvNeXt-V1).
    """

    def __init__(self, dim: int, hidden: int, kernel: int = 7, cond_dim: int = 0, grn: bool = True) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = AdaLN(dim, cond_dim)
        self.up = nn.Linear(dim, hidden)
        self.grn = GRN(hidden) if grn else None
        self.down = nn.Linear(hidden, dim)
        self.layer_scale = None if grn else nn.Parameter(torch.full((dim,), 1e-2))

    @property
    def receptive_field(self) -> int:
        """Frames of context needed on each side (the depthwise conv and the GRN window)."""
        return self.dwconv.kernel_size[0] // 2 + (self.grn.window // 2 if self.grn is not None else 0)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x: (B, F, C), cond: (B, K) or None -> (B, F, C)."""
        # The depthwise conv as a (B, C, 1, F) conv2d on the channels-last data as it lies:
        # no transposed copies, and the output comes back channels-last (2-7x faster on CPU).
        y = F.conv2d(
            x.transpose(1, 2).unsqueeze(2),
            self.dwconv.weight.unsqueeze(2),
            self.dwconv.bias,
            padding=(0, self.dwconv.kernel_size[0] // 2),
            groups=self.dwconv.groups,
        )
        y = y.squeeze(2).transpose(1, 2)
        y = F.gelu(self.up(self.norm(y, cond)))
        if self.grn is not None:
            y = self.grn(y)
        y = self.down(y)
        if self.layer_scale is not None:
            y = y * self.layer_scale
        return x + y


class Backbone(nn.Module):
    """1x1 conv in, a stack of ConvNeXt blocks, final (Ada)LN, 1x1 conv out.

    Args:
        in_dim: input channels.
        out_dim: output channels.
        dim: block channels.
        blocks: number of blocks.
        hidden: MLP hidden channels of each block.
        kernel: depthwise kernel.
        cond_dim: condition size K (0 = unconditioned).
        grn: ConvNeXt-V2 blocks (GRN) when True, V1 (LayerScale) when False.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        dim: int,
        blocks: int,
        hidden: int,
        kernel: int = 7,
        cond_dim: int = 0,
        grn: bool = True,
    ) -> None:
        super().__init__()
        self.proj_in = nn.Linear(in_dim, dim)
        self.blocks = nn.ModuleList(ConvNeXtBlock(dim, hidden, kernel, cond_dim, grn) for _ in range(blocks))
        self.norm = AdaLN(dim, cond_dim)
        self.proj_out = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x: (B, in_dim, F), cond: (B, K) or None -> (B, out_dim, F)."""
        h = self.proj_in(x.transpose(1, 2))
        for block in self.blocks:
            h = block(h, cond)
        return self.proj_out(self.norm(h, cond)).transpose(1, 2)

    @property
    def receptive_field(self) -> int:
        """Frames of context needed on each side for an exact result (convs and GRN windows)."""
        return sum(block.receptive_field for block in self.blocks if isinstance(block, ConvNeXtBlock))


LEVEL_FLOOR = 1e-6


def frame_level(z: Tensor, floor: float = LEVEL_FLOOR) -> Tensor:
    """Per-frame level of a latent: the RMS over channels, floored. (B, D, F) -> (B, 1, F).

    The autoencoder is gain-shape (a frame's latent is its audio level times a shape), so
    latent modules divide their input by this level and multiply their output by it: then
    ``module(g z) = g module(z)`` for any gain g, as for the audio (a quiet passage gets a
    quiet high band, not one at the training music's average level).
    """
    return z.square().mean(dim=1, keepdim=True).sqrt().clamp_min(floor)


def sinusoidal_embedding(values: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Embed scalars with sines and cosines of geometric frequencies.

    Args:
        values: (B,) scalars, e.g. flow time in [0, 1] scaled up, or a rate in kHz.
        dim: even output size.

    Returns:
        (B, dim)
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=values.device, dtype=torch.float32) / half)
    angles = values.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
