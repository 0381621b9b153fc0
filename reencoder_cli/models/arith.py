"""Latent arithmetic: gain and mixing as operations on latents.

The autoencoder is trained to be homogeneous and additive (Lin-CAE augmentations), so
``D(g * E(x)) ~= g * x`` and ``D(E(a) + E(b)) ~= a + b``; BENCHMARKS.md measures how close.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def db_to_gain(db: float) -> float:
    """Decibels to a linear amplitude factor."""
    return 10.0 ** (db / 20.0)


def gain(z: Tensor, db: float) -> Tensor:
    """Scale a latent as the waveform would be scaled by ``db`` decibels: (..., D, F) -> same."""
    return z * db_to_gain(db)


def mix(latents: Sequence[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    """Weighted sum of latents, shorter ones zero-padded at the end (silence decodes to silence).

    Args:
        latents: each (C, D, F_i), same C and D.
        weights: one per latent; all 1 when None.

    Returns:
        (C, D, max F_i)
    """
    if not latents:
        raise ValueError("mix needs at least one latent")
    weights = list(weights) if weights is not None else [1.0] * len(latents)
    if len(weights) != len(latents):
        raise ValueError(f"{len(latents)} latents but {len(weights)} weights")
    frames = max(z.shape[-1] for z in latents)
    out = torch.zeros(*latents[0].shape[:-1], frames, dtype=latents[0].dtype, device=latents[0].device)
    for z, w in zip(latents, weights):
        out[..., : z.shape[-1]] += w * z
    return out
