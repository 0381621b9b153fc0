"""Discriminators: waveform ones for autoencoder training, a latent one for latent modules.

Each returns ``(scores, features)``: a list of score maps (one per sub-discriminator) and a
list of hidden-feature lists for feature matching.

- ``PeriodDiscriminator`` (HiFi-GAN): the waveform folded by a period into a 2-D image.
- ``ResolutionDiscriminator`` (UnivNet/Vocos): a log-magnitude spectrogram, split into
  frequency bands (DAC's multi-band idea) sharing one stack.
- ``WaveDiscriminator``: several of each (periods, resolutions) as one module.
- ``LatentDiscriminator`` (Re-Encoder): a Conv2d stack over the ``(D, F)`` latent image.

Channel widths are configurable: the defaults are narrow so that a GAN step stays
affordable on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

Output = tuple[list[Tensor], list[list[Tensor]]]


def _stack(layers: nn.ModuleList, out: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    features = []
    for layer in layers:
        x = F.leaky_relu(layer(x), 0.1)
        features.append(x)
    return out(x), features


class PeriodDiscriminator(nn.Module):
    """One period of the MPD: (B, T) -> scores over a (T / p, p) image."""

    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        widths = (1, *channels)
        self.layers = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (5, 1), (3 if i < len(channels) - 1 else 1, 1), padding=(2, 0)))
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))
        )
        self.out = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: Tensor) -> tuple[Tensor, list[Tensor]]:
        """wav: (B, T) -> score (B, 1, H, p), features."""
        pad = (-wav.shape[-1]) % self.period
        x = F.pad(wav, (0, pad), mode="reflect" if pad < wav.shape[-1] else "constant")
        x = x.reshape(x.shape[0], 1, -1, self.period)
        return _stack(self.layers, self.out, x)


class ResolutionDiscriminator(nn.Module):
    """One STFT resolution, split into frequency bands that share a Conv2d stack."""

    window: Tensor  # a buffer, not stored

    def __init__(self, n_fft: int, bands: tuple[float, ...], channels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        bins = n_fft // 2 + 1
        edges = [int(b * bins) for b in (0.0, *bands, 1.0)]
        self.bands = list(zip(edges[:-1], edges[1:]))
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.layers = nn.ModuleList(
            [
                weight_norm(nn.Conv2d(2, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 9), (1, 2), padding=(1, 4))),
                weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
            ]
        )
        self.out = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: Tensor) -> tuple[Tensor, list[Tensor]]:
        """wav: (B, T) -> scores of all bands concatenated (B, N), features."""
        spec = torch.stft(wav.float(), self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        x = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (B, 2, frames, bins): real and imaginary
        x = x * (x.square().sum(1, keepdim=True) + 1e-8).pow(-0.35)  # magnitude compressed to the 0.3 power
        scores, features = [], []
        for lo, hi in self.bands:
            score, feats = _stack(self.layers, self.out, x[..., lo:hi])
            scores.append(score.flatten(1))
            features += feats
        return torch.cat(scores, dim=1), features


@dataclass(frozen=True)
class WaveDiscriminatorConfig:
    """Sizes of the waveform discriminators."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    period_channels: tuple[int, ...] = (8, 16, 32, 32, 32)
    resolutions: tuple[int, ...] = (512, 1024, 2048)
    bands: tuple[float, ...] = (0.25, 0.5)
    resolution_channels: int = 8


class WaveDiscriminator(nn.Module):
    """Multi-period + multi-resolution (multi-band) discriminators on mono waveforms."""

    def __init__(self, config: WaveDiscriminatorConfig = WaveDiscriminatorConfig()) -> None:
        super().__init__()
        self.config = config
        self.subs = nn.ModuleList(
            [PeriodDiscriminator(p, config.period_channels) for p in config.periods]
            + [ResolutionDiscriminator(n, config.bands, config.resolution_channels) for n in config.resolutions]
        )

    def forward(self, wav: Tensor) -> Output:
        """wav: (B, T) -> (scores, features), one entry per sub-discriminator."""
        scores, features = [], []
        for sub in self.subs:
            score, feats = sub(wav)
            scores.append(score)
            features.append(feats)
        return scores, features


@dataclass(frozen=True)
class LatentDiscriminatorConfig:
    """The Re-Encoder latent discriminator: 6 Conv2d layers over the (D, F) latent image."""

    channels: int = 256
    layers: int = 6


class LatentDiscriminator(nn.Module):
    """Conv2d stack over a latent seen as a one-channel (D, F) image: kernels (3, 7) then (3, 3)."""

    def __init__(self, config: LatentDiscriminatorConfig = LatentDiscriminatorConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        convs = [weight_norm(nn.Conv2d(1, c, (3, 7), padding=(1, 3)))]
        convs += [weight_norm(nn.Conv2d(c, c, (3, 3), (2, 1), padding=(1, 1))) for _ in range(config.layers - 2)]
        self.layers = nn.ModuleList(convs)
        self.out = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, z: Tensor) -> Output:
        """z: (B, D, F) -> ([scores (B, 1, D', F)], [features])."""
        score, feats = _stack(self.layers, self.out, z.unsqueeze(1))
        return [score], [feats]
