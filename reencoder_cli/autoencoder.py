"""Our frozen music autoencoder: mono 44.1 kHz audio <-> a 64-channel latent at 43 Hz.

Encoder: a complex STFT (n_fft 1024, hop 256) compressed by a power law, four STFT frames
stacked per latent frame, a ConvNeXt backbone at 43 Hz, and a variational head (mean and
log-variance). Decoder (Vocos-style): a ConvNeXt backbone at 43 Hz, a learned 4x upsampling
(pixel shuffle in time) to a lighter backbone at 172 Hz, and an inverse-STFT head that
predicts log-magnitude and phase. Every layer is local in time, so the pipeline can run
long files in chunks.

The contract (DESIGN.md): ``encode (B, T) -> (B, D, ceil(T / hop))`` and
``decode (B, D, F) -> (B, F * hop)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reencoder_cli.layers import Backbone

ARCH = "autoencoder"
DECODER_FIELDS = frozenset({"dec_dim", "dec_blocks", "dec_hidden", "fine_dim", "fine_blocks", "fine_hidden"})


@dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes of the autoencoder. ``hop`` must equal ``stft_hop * subframes``."""

    sample_rate: int = 44100
    latent_dim: int = 64
    n_fft: int = 1024
    stft_hop: int = 256
    subframes: int = 4
    compress: float = 0.3
    enc_dim: int = 256
    enc_blocks: int = 3
    enc_hidden: int = 768
    dec_dim: int = 384
    dec_blocks: int = 4
    dec_hidden: int = 1152
    fine_dim: int = 192
    fine_blocks: int = 2
    fine_hidden: int = 576
    kernel: int = 7
    level_ref: float = 0.05
    level_floor: float = 1e-5

    @property
    def hop(self) -> int:
        """Samples per latent frame."""
        return self.stft_hop * self.subframes

    @property
    def bins(self) -> int:
        """STFT frequency bins."""
        return self.n_fft // 2 + 1


class Autoencoder(nn.Module):
    """Variational STFT autoencoder meeting the DESIGN.md contract.

    Args:
        config: sizes.
    """

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        c = config
        if c.n_fft != 4 * c.stft_hop:
            raise ValueError("the ISTFT padding below assumes n_fft == 4 * stft_hop")
        self.config = c
        self.sample_rate = c.sample_rate
        self.latent_dim = c.latent_dim
        self.hop = c.hop
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        self.encoder = Backbone(
            2 * c.bins * c.subframes, 2 * c.latent_dim, c.enc_dim, c.enc_blocks, c.enc_hidden, c.kernel, grn=False
        )
        self.decoder = Backbone(
            c.latent_dim, c.fine_dim * c.subframes, c.dec_dim, c.dec_blocks, c.dec_hidden, c.kernel, grn=False
        )
        self.fine = Backbone(c.fine_dim, 2 * c.bins, c.fine_dim, c.fine_blocks, c.fine_hidden, c.kernel, grn=False)

    # -- encoder -------------------------------------------------------------------------

    def stft_features(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """Level-normalised, power-compressed complex STFT, ``subframes`` frames stacked per latent frame.

        Each latent frame's STFT is divided by its level (the frame's RMS estimated from its
        STFT power, over ``level_ref``) before compression, so the features do not depend
        on the input's scale: the level is carried by the latent's norm instead (see
        ``posterior``). Built in one pass from the real view of the STFT and laid out
        channels-last, as the encoder's first linear layer reads it (feature index
        ``(part * bins + bin) * subframes + subframe``, part 0 real and 1 imaginary); the
        returned features are a transposed view.

        wav: (B, T) with T a multiple of hop -> features (B, 2 * bins * subframes, T / hop),
        level (B, 1, T / hop)
        """
        c = self.config
        spec = self.stft(wav)  # (B, 4F, bins)
        b, n, bins = spec.shape
        power = spec.real.square() + spec.imag.square()  # (B, 4F, bins)
        frame_power = power.reshape(b, n // c.subframes, -1).mean(dim=-1)  # (B, F)
        rms = (frame_power / self.window.square().sum()).add(c.level_floor**2).sqrt()  # Parseval
        level = (rms / c.level_ref)[:, None, :]  # (B, 1, F)
        scale = level.repeat_interleave(c.subframes, dim=-1).transpose(1, 2)  # (B, 4F, 1)
        # parts * factor = (magnitude / scale) to the power `compress`, phase kept; in the log
        # domain, in place (twice as fast as pow on CPU)
        log_power = (power / scale.square()).clamp_min_(1e-14).log_()
        factor = log_power.mul_((c.compress - 1) / 2).sub_(scale.log()).exp_()  # (B, 4F, bins)
        parts = torch.view_as_real(spec).reshape(b, n // c.subframes, c.subframes, bins, 2)  # (B, F, 4, bins, 2)
        feats = torch.empty(b, n // c.subframes, 2, bins, c.subframes, dtype=factor.dtype, device=factor.device)
        torch.mul(
            parts.permute(0, 1, 4, 3, 2),
            factor.reshape(b, n // c.subframes, c.subframes, bins, 1).permute(0, 1, 4, 3, 2),
            out=feats,
        )  # one strided pass into the encoder's layout
        return feats.reshape(b, n // c.subframes, -1).transpose(1, 2), level

    def posterior(self, wav: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q(z | wav) in gain-shape form: ``z = level * (mean + exp(logvar / 2) * eps)``.

        The encoder sees level-normalised features and predicts the shape (mean and
        log-variance, on which the KL acts); each frame's level multiplies it. So the
        encoder is homogeneous, ``encode(g x) == g encode(x)`` for g > 0 (up to the
        ``level_floor`` of near-silence), as the decoder is.

        wav: (B, T) any T -> mean, logvar: (B, D, F), level: (B, 1, F), F = ceil(T / hop)
        """
        frames = max(1, math.ceil(wav.shape[-1] / self.hop))
        wav = F.pad(wav, (0, frames * self.hop - wav.shape[-1]))
        feats, level = self.stft_features(wav)
        mean, logvar = self.encoder(feats).chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 6.0), level.to(mean.dtype)

    def encode(self, wav: Tensor) -> Tensor:
        """The latent (level times the posterior mean): (B, T) -> (B, D, ceil(T / hop))."""
        mean, _, level = self.posterior(wav)
        return level * mean

    # -- decoder -------------------------------------------------------------------------

    def decode(self, z: Tensor) -> Tensor:
        """Waveform from latent: (B, D, F) -> (B, F * hop).

        Gain-shape decoding: the network sees each frame's direction ``z / |z|`` and the
        frame's norm ``|z|`` (RMS over channels) multiplies its magnitudes, so the decoder
        is exactly homogeneous, ``decode(g z) == g decode(z)`` for g > 0. (A network ending
        in a LayerNorm cannot see a latent's scale, so gain cannot be learned any other way.)
        """
        mag, phase = self.decode_spectrum(z)
        return self.istft(torch.complex(mag * phase.cos(), mag * phase.sin()))  # torch.polar is 2x slower

    def decode_spectrum(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The STFT the decoder predicts, frames first: z (B, D, F) -> magnitude, phase (B, 4F, bins).

        ``istft`` of it is ``decode(z)``; ``stft`` of a waveform is laid out the same way.
        """
        c = self.config
        norm = z.float().square().mean(dim=1, keepdim=True).add(1e-8).sqrt()  # (B, 1, F)
        h = self.decoder(z / norm.to(z.dtype)).transpose(1, 2)  # (B, F, fine_dim * subframes)
        b, frames, _ = h.shape
        h = h.reshape(b, frames, c.fine_dim, c.subframes).transpose(2, 3).reshape(b, frames * c.subframes, -1)
        out = self.fine(h.transpose(1, 2)).transpose(1, 2).float()  # (B, 4F, 2 * bins), channels-last
        log_mag, phase = out[..., : c.bins], out[..., c.bins :]
        gain = norm.log().repeat_interleave(c.subframes, dim=-1).transpose(1, 2)  # (B, 4F, 1)
        return (log_mag.clamp(max=8.0) + gain).exp(), phase

    def stft(self, wav: Tensor) -> Tensor:
        """The STFT ``istft`` inverts, frames first: (B, T), T a multiple of ``stft_hop`` -> (B, T / stft_hop, bins)."""
        c = self.config
        pad = (c.n_fft - c.stft_hop) // 2
        spec = torch.stft(
            F.pad(wav, (pad, pad)), c.n_fft, c.stft_hop, window=self.window, center=False, return_complex=True
        )
        return spec.transpose(1, 2)

    def istft(self, spec: Tensor) -> Tensor:
        """Inverse STFT with "same" padding, frames first: (B, N, bins) -> (B, N * stft_hop).

        With ``n_fft == 4 * stft_hop`` the overlap-add is four shifted sums of hop-sized
        blocks, and so is the squared-window envelope it is divided by.
        """
        c = self.config
        frames = torch.fft.irfft(spec, n=c.n_fft, dim=-1) * self.window  # (B, N, n_fft)
        b, n, _ = frames.shape
        parts = frames.reshape(b, n, 4, c.stft_hop)
        wav = sum(F.pad(parts[:, :, k], (0, 0, k, 3 - k)) for k in range(4)).reshape(b, -1)  # (B, (N + 3) * hop)
        squares = self.window.square().reshape(4, c.stft_hop)
        envelope = wav.new_zeros(n + 3, c.stft_hop)
        for k in range(4):
            envelope[k : k + n] += squares[k]
        pad = (c.n_fft - c.stft_hop) // 2
        return wav[:, pad:-pad] / envelope.reshape(-1)[pad:-pad].clamp_min(1e-11)

    def forward(self, wav: Tensor) -> Tensor:
        """Reconstruction, trimmed to the input length: (B, T) -> (B, T)."""
        return self.decode(self.encode(wav))[..., : wav.shape[-1]]

    def latent_space(self) -> str:
        """Names the latent space: the sha256 of every config field but the decoder's and of
        the encoder's weights (as the float16 they are shipped in, zeros unsigned).

        Files with the same encoder make the same latents, so latent files and latent
        modules made with one work with the other: a decoder fine-tune (``reencoder train
        autoencoder --decoder-only``) keeps the latent space.
        """
        h = hashlib.sha256()
        fields = {k: v for k, v in asdict(self.config).items() if k not in DECODER_FIELDS}
        h.update(json.dumps(fields, sort_keys=True).encode())
        for name, tensor in sorted(self.encoder.state_dict().items()):
            h.update(f"{name}{tuple(tensor.shape)}".encode())
            h.update((tensor.detach().to("cpu", torch.float16) + 0.0).numpy().tobytes())  # + 0.0: -0.0 -> 0.0
        return h.hexdigest()

    @property
    def context_frames(self) -> int:
        """Latent frames of context each side that make chunked encode/decode exact."""
        fine = math.ceil(self.fine.receptive_field / self.config.subframes)
        return self.encoder.receptive_field + self.decoder.receptive_field + fine + 2


def noisy_latent(z: Tensor, level: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
    """``z`` with Gaussian noise on each frame's direction, its level kept (LatentFlowSR's robustness).

    Each frame gets noise of ``level`` times its own RMS over channels and is then scaled
    back to its original norm: the noise perturbs the shape, never the loudness, which the
    gain-shape decoder reads from the norm. (Noise scaled to a global or per-channel
    spread swamps quiet frames, inflating their norm, and teaches the decoder to play
    everything quieter.)

    Args:
        z: (B, D, F) latents.
        level: scalar or (B,) relative noise level.
        generator: RNG on z's device.

    Returns:
        (B, D, F) noisy latents with the frame norms of ``z``.
    """
    norm = z.square().mean(dim=1, keepdim=True).add(1e-12).sqrt()  # (B, 1, F)
    level = torch.as_tensor(level, device=z.device, dtype=z.dtype).reshape(-1, 1, 1)
    noisy = z + level * norm * torch.randn(z.shape, device=z.device, dtype=z.dtype, generator=generator)
    return noisy * norm / noisy.square().mean(dim=1, keepdim=True).add(1e-12).sqrt()
