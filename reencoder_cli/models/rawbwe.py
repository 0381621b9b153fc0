"""The learned raw-audio baseline: a spectral U-Net (in the style of Aero) for bandwidth extension.

It works on the complex STFT of the sinc-upsampled input (n_fft 1024, hop 256, magnitude
compressed by a 0.3 power), a 2-D U-Net over (frequency, time) that downsamples frequency
by 4 per level and keeps time, conditioned on the input rate (FiLM at the bottleneck),
and predicts a residual spectrum. It is trained on the same music with a multi-resolution
STFT loss, for the same wall-clock budget as the latent module, so the latent-versus-
waveform trade-off is measured rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reencoder_cli.chunks import map_chunks
from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.models.bwe import RATES, rate_index

ARCH = "rawbwe"


@dataclass(frozen=True)
class RawBWEConfig:
    """Sizes: channels per U-Net level, residual blocks per level."""

    n_fft: int = 1024
    hop: int = 256
    compress: float = 0.3
    channels: tuple[int, ...] = (16, 32, 64, 128)
    blocks: int = 1
    rates: tuple[int, ...] = RATES


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GELU and a residual connection: (B, C, K, N) -> same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.gelu(self.conv1(F.gelu(x))))


class RawBWE(nn.Module):
    """Spectral U-Net: (B, T) sinc-upsampled waveform and rate index -> (B, T) full band.

    Args:
        config: sizes.
    """

    window: Tensor  # a buffer, not stored

    def __init__(self, config: RawBWEConfig = RawBWEConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.stem = nn.Conv2d(2, c[0], 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(a, b, (4, 3), stride=(4, 1), padding=(0, 1)) for a, b in zip(c[:-1], c[1:]))
        self.enc = nn.ModuleList(nn.Sequential(*(ResBlock(ch) for _ in range(config.blocks))) for ch in c)
        self.film = nn.Embedding(len(config.rates), 2 * c[-1])
        nn.init.zeros_(self.film.weight)
        self.up = nn.ModuleList(nn.ConvTranspose2d(b, a, (4, 1), stride=(4, 1)) for a, b in zip(c[:-1], c[1:]))
        self.dec = nn.ModuleList(nn.Sequential(*(ResBlock(ch) for _ in range(config.blocks))) for ch in c[:-1])
        self.head = nn.Conv2d(c[0], 2, 3, padding=1)
        for param in self.head.parameters():  # weight and bias: the residual starts at zero
            nn.init.zeros_(param)

    def forward(self, wav: Tensor, rate: Tensor) -> Tensor:
        """wav: (B, T), rate: (B,) indices -> (B, T)."""
        c = self.config
        spec = torch.stft(wav, c.n_fft, c.hop, window=self.window, return_complex=True)  # (B, bins, N)
        mag = spec.abs().clamp_min(1e-7)
        x = torch.view_as_real(spec * mag.pow(c.compress - 1)).permute(0, 3, 1, 2)  # (B, 2, bins, N)
        x = x[:, :, : c.n_fft // 2]  # drop the Nyquist bin: 512 bins divide by 4 per level
        h = self.stem(x)
        skips = []
        for level, block in enumerate(self.enc):
            if level:
                skips.append(h)
                h = self.down[level - 1](h)
            h = block(h)
        scale, shift = self.film(rate)[:, :, None, None].chunk(2, dim=1)
        h = h * (1 + scale) + shift
        for level in reversed(range(len(self.up))):
            h = self.dec[level](self.up[level](h) + skips[level])
        y = x + self.head(h)  # residual on the compressed spectrum
        y = torch.view_as_complex(F.pad(y, (0, 0, 0, 1)).permute(0, 2, 3, 1).contiguous())
        y = y * y.abs().clamp_min(1e-7).pow(1 / c.compress - 1)
        return torch.istft(y, c.n_fft, c.hop, window=self.window, length=wav.shape[-1])

    def rate_tensor(self, rate: int, batch: int, device: torch.device | str = "cpu") -> Tensor:
        """Condition indices for inputs at ``rate`` Hz: -> (B,)."""
        return torch.full((batch,), rate_index(self.config.rates, rate), dtype=torch.long, device=device)


@torch.inference_mode()
def apply_raw(
    model: RawBWE, wav44: np.ndarray, source_rate: int, chunk: int = 30 * SAMPLE_RATE, context: int = 8192
) -> np.ndarray:
    """Run the raw baseline on a sinc-upsampled signal: (C, T) -> (C, T), in chunks with context."""
    x = torch.from_numpy(np.ascontiguousarray(wav44, dtype=np.float32))
    rate = model.rate_tensor(source_rate, x.shape[0])
    return map_chunks(lambda w: model(w, rate), [x], chunk, context).numpy()
