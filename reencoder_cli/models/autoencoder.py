"""Our frozen music autoencoder: mono 44.1 kHz audio <-> a 64-channel latent at 43 Hz.

Encoder: a front end on the STFT (n_fft 1024, hop 256), four STFT frames per latent frame,
a ConvNeXt backbone at 43 Hz, and a variational head (mean and log-variance). The front end
is either the power-compressed complex STFT (``front_end="complex"``) or log-magnitudes and
instantaneous-frequency deviations at 172 Hz through a ConvNeXt block, plus the
log-magnitudes of a 4096-point STFT at 43 Hz (``"spectral"``). Decoder (Vocos-style): a
ConvNeXt backbone at 43 Hz, a learned 4x upsampling (pixel shuffle in time) to a lighter
backbone at 172 Hz, and an inverse-STFT head that predicts log-magnitude and phase. Every
layer is local in time, so the pipeline can run long files in chunks.

The contract (DESIGN.md): ``encode (B, T) -> (B, D, ceil(T / hop))`` and
``decode (B, D, F) -> (B, F * hop)``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.models.layers import Backbone, ConvNeXtBlock

ARCH = "autoencoder"
DECODER_FIELDS = frozenset({"dec_dim", "dec_blocks", "dec_hidden", "fine_dim", "fine_blocks", "fine_hidden"})
# the submodules that make the latent: hashed into the latent space, frozen by a decoder-only run
ENCODER_PARTS = ("front", "encoder")
FRONT_ENDS = ("complex", "spectral")


@dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes of the autoencoder. ``hop`` must equal ``stft_hop * subframes``.

    ``gain_shape``: the encoder sees level-normalised features and the decoder each frame's
    direction, the frame's level multiplying the output (exact homogeneity); otherwise both
    are plain networks. ``front_end``: one of ``FRONT_ENDS``; the spectral one's long STFT
    has ``long_fft`` points.

    ``BEFORE`` holds what a file written before a field existed meant by it (autoencoder
    v1's value, not today's default): loading fills it in, and the latent space's name
    leaves such a field out while it has that value, so older files keep their names.
    """

    BEFORE: ClassVar[dict[str, object]] = {
        "gain_shape": True,
        "front_end": "complex",
        "front_dim": 256,
        "long_fft": 4096,
    }

    sample_rate: int = SAMPLE_RATE
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
    gain_shape: bool = True
    front_end: str = "spectral"
    front_dim: int = 256
    long_fft: int = 4096

    @property
    def hop(self) -> int:
        """Samples per latent frame."""
        return self.stft_hop * self.subframes

    @property
    def bins(self) -> int:
        """STFT frequency bins."""
        return self.n_fft // 2 + 1

    @property
    def long_bins(self) -> int:
        """Frequency bins of the long STFT (one frame per latent frame)."""
        return self.long_fft // 2 + 1


class SpectralFrontEnd(nn.Module):
    """Log-magnitudes and instantaneous-frequency deviations at 172 Hz, and log-magnitudes of a
    long STFT at 43 Hz: what the encoder's backbone reads (``front_end="spectral"``).

    At 172 Hz each STFT frame gives its log-magnitudes and, per bin, the cosine and sine of
    the deviation of its phase advance from the bin centre's (where in the bin a partial
    lies), through a linear layer and a ConvNeXt block; the ``subframes`` frames of a latent
    frame are stacked. The long STFT (one frame per latent frame) resolves partials 10.8 Hz
    apart.

    Args:
        config: sizes.
    """

    advance: Tensor

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.short = nn.Linear(3 * c.bins, c.front_dim)
        self.block = ConvNeXtBlock(c.front_dim, 2 * c.front_dim, c.kernel, grn=False)
        self.long = nn.Linear(c.long_bins, c.front_dim)
        k = torch.arange(c.bins)
        # the phase advance of bin k's centre over one hop is 2 pi k hop / n_fft
        advance = torch.polar(torch.ones(c.bins), -2 * math.pi * k * c.stft_hop / c.n_fft)
        self.register_buffer("advance", advance, persistent=False)

    @property
    def out_dim(self) -> int:
        """Channels per latent frame."""
        return self.config.front_dim * (self.config.subframes + 1)

    def forward(self, spec: Tensor, long: Tensor, level: Tensor) -> Tensor:
        """The features of the short and long STFTs, each latent frame divided by its level.

        spec: (B, 4F, bins), long: (B, F, long_bins), complex; level: (B, 1, F) -> (B, out_dim, F)
        """
        c = self.config
        log_level = level.log().transpose(1, 2)  # (B, F, 1)
        h = self.block(self.short_features(spec, log_level.repeat_interleave(c.subframes, dim=1)))  # (B, 4F, front_dim)
        b, n, _ = h.shape
        short = h.reshape(b, n // c.subframes, c.subframes * c.front_dim)
        long_power = torch.view_as_real(long).square().sum(dim=-1)
        long_feats = self.long(log_magnitude(long_power, log_level) / 4)  # (B, F, front_dim)
        return torch.cat([short, long_feats], dim=-1).transpose(1, 2)

    def short_features(self, spec: Tensor, log_level: Tensor) -> Tensor:
        """The short STFT's log-magnitudes and phase turns through the first linear layer.

        One product per group of its input (log-magnitudes, cosines, sines of the turns)
        rather than one of their concatenation, and each spectrum-sized temporary dies here:
        a third of the encoder's peak memory on a 30-s chunk.

        spec: (B, 4F, bins) complex, log_level: (B, 4F, 1) -> (B, 4F, front_dim)
        """
        bins = self.config.bins
        weight = self.short.weight  # (front_dim, 3 bins)
        power = torch.view_as_real(spec).square().sum(dim=-1)
        h = F.linear(log_magnitude(power, log_level) / 4, weight[:, :bins], self.short.bias)
        # the phase turn from the previous frame, of unit length (the level cancels), relative to
        # the bin centre's; the first frame has no previous one and turns by 0
        unit = spec * power.clamp_min(1e-20).rsqrt()
        del power
        turn = torch.view_as_real(unit[:, 1:] * unit[:, :-1].conj() * self.advance)  # (B, 4F - 1, bins, 2)
        del unit
        turns = F.linear(turn[..., 0], weight[:, bins : 2 * bins]) + F.linear(turn[..., 1], weight[:, 2 * bins :])
        return torch.cat([h[:, :1], h[:, 1:] + turns], dim=1)


def log_magnitude(power: Tensor, log_level: Tensor) -> Tensor:
    """log(max(magnitude / level, 1e-5)) of a power spectrum; log_level broadcasts against it."""
    return (0.5 * power.clamp_min(1e-30).log() - log_level).clamp_min(math.log(1e-5))


class Autoencoder(nn.Module):
    """Variational STFT autoencoder meeting the DESIGN.md contract.

    Args:
        config: sizes.
    """

    window: Tensor
    long_window: Tensor

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        c = config
        if c.n_fft != 4 * c.stft_hop or c.long_fft != 4 * c.hop:
            raise ValueError("the ISTFT below assumes n_fft == 4 * stft_hop and long_fft == 4 * hop")
        if c.front_end not in FRONT_ENDS:
            raise ValueError(f"front_end must be one of {FRONT_ENDS}, not {c.front_end!r}")
        self.config = c
        self.sample_rate = c.sample_rate
        self.latent_dim = c.latent_dim
        self.hop = c.hop
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        self.register_buffer("long_window", torch.hann_window(c.long_fft), persistent=False)
        self.front = SpectralFrontEnd(c) if c.front_end == "spectral" else None
        front_dim = self.front.out_dim if self.front is not None else 2 * c.bins * c.subframes
        self.encoder = Backbone(front_dim, 2 * c.latent_dim, c.enc_dim, c.enc_blocks, c.enc_hidden, c.kernel, grn=False)
        self.decoder = Backbone(
            c.latent_dim, c.fine_dim * c.subframes, c.dec_dim, c.dec_blocks, c.dec_hidden, c.kernel, grn=False
        )
        self.fine = Backbone(c.fine_dim, 2 * c.bins, c.fine_dim, c.fine_blocks, c.fine_hidden, c.kernel, grn=False)

    # -- encoder -------------------------------------------------------------------------

    def frame_level(self, spec: Tensor) -> Tensor:
        """Each latent frame's RMS (from its STFT power) over ``level_ref``: spec (B, 4F, bins) -> (B, 1, F)."""
        c = self.config
        b, n, _ = spec.shape
        power = spec.real.square() + spec.imag.square()
        frame_power = power.reshape(b, n // c.subframes, -1).mean(dim=-1)  # (B, F)
        rms = (frame_power / self.window.square().sum()).add(c.level_floor**2).sqrt()
        return (rms / c.level_ref)[:, None, :]

    def stft_features(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """Power-compressed complex STFT, ``subframes`` frames stacked per latent frame, and
        each frame's level (ones for a plain network).

        With ``gain_shape`` each latent frame's STFT is divided by its level before
        compression, so the features do not depend on the input's scale: the level is
        carried by the latent's norm instead (see ``posterior``). Built in one pass from the
        real view of the STFT and laid out channels-last, as the encoder's first linear layer
        reads it (feature index ``(part * bins + bin) * subframes + subframe``, part 0 real
        and 1 imaginary); the returned features are a transposed view.

        wav: (B, T) with T a multiple of hop -> features (B, 2 * bins * subframes, T / hop),
        level (B, 1, T / hop)
        """
        c = self.config
        spec = self.stft(wav)  # (B, 4F, bins)
        b, n, bins = spec.shape
        level = self.frame_level(spec) if c.gain_shape else spec.real.new_ones(b, 1, n // c.subframes)
        scale = level.repeat_interleave(c.subframes, dim=-1).transpose(1, 2)  # (B, 4F, 1)
        power = spec.real.square() + spec.imag.square()  # (B, 4F, bins)
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

    def spectral_features(self, wav: Tensor) -> tuple[Tensor, Tensor]:
        """The spectral front end's features and each frame's level (ones for a plain network).

        wav: (B, T) with T a multiple of hop -> features (B, front.out_dim, T / hop), level (B, 1, T / hop)
        """
        c = self.config
        assert self.front is not None
        spec = self.stft(wav)  # (B, 4F, bins)
        long = stft(wav, c.long_fft, c.hop, self.long_window)  # (B, F, long_bins)
        level = self.frame_level(spec) if c.gain_shape else spec.real.new_ones(spec.shape[0], 1, long.shape[1])
        return self.front(spec, long, level), level

    def posterior(self, wav: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q(z | wav), in gain-shape form ``z = level * (mean + exp(logvar / 2) * eps)``.

        With ``gain_shape`` the encoder sees level-normalised features and predicts the
        shape (mean and log-variance, on which the KL acts); each frame's level multiplies
        it. So the encoder is homogeneous, ``encode(g x) == g encode(x)`` for g > 0 (up to
        the ``level_floor`` of near-silence), as the decoder is. A plain network's level is 1.

        wav: (B, T) any T -> mean, logvar: (B, D, F), level: (B, 1, F), F = ceil(T / hop)
        """
        frames = max(1, math.ceil(wav.shape[-1] / self.hop))
        wav = F.pad(wav, (0, frames * self.hop - wav.shape[-1]))
        features = self.spectral_features if self.front is not None else self.stft_features
        feats, level = features(wav)
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
        return self.istft(polar(*self.decode_spectrum(z)))

    def decode_spectrum(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """The STFT ``decode`` inverts, frames first: z (B, D, F) -> magnitude, phase (B, 4F, bins).

        ``stft`` of a waveform is laid out the same way.
        """
        c = self.config
        gain = None
        if c.gain_shape:
            norm = z.float().square().mean(dim=1, keepdim=True).add(1e-8).sqrt()  # (B, 1, F)
            z, gain = z / norm.to(z.dtype), norm.log().transpose(1, 2)  # gain (B, F, 1)
        h = self.decoder(z).transpose(1, 2)  # (B, F, fine_dim * subframes)
        b, frames, _ = h.shape
        fine = h.reshape(b, frames, c.fine_dim, c.subframes).transpose(2, 3)
        out = self.fine(fine.reshape(b, frames * c.subframes, -1).transpose(1, 2)).transpose(1, 2).float()
        log_mag = out[..., : c.bins].clamp(max=8.0)  # (B, 4F, bins)
        if gain is not None:
            log_mag = log_mag + gain.repeat_interleave(c.subframes, dim=1)
        return log_mag.exp(), out[..., c.bins :]

    def stft(self, wav: Tensor) -> Tensor:
        """The STFT ``istft`` inverts, frames first: (B, T), T a multiple of ``stft_hop`` -> (B, T / stft_hop, bins)."""
        return stft(wav, self.config.n_fft, self.config.stft_hop, self.window)

    def istft(self, spec: Tensor) -> Tensor:
        """Inverse of ``stft``: (B, N, bins) -> (B, N * stft_hop)."""
        return istft(spec, self.config.stft_hop, self.window)

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
        before = AutoencoderConfig.BEFORE
        fields = {
            k: v
            for k, v in asdict(self.config).items()
            if k not in DECODER_FIELDS and (k not in before or v != before[k])
        }
        h.update(json.dumps(fields, sort_keys=True).encode())
        encoder = {  # the backbone's names without their prefix, as the first latent spaces were named
            k.removeprefix("encoder."): v for k, v in self.state_dict().items() if k.split(".")[0] in ENCODER_PARTS
        }
        for name, tensor in sorted(encoder.items()):
            h.update(f"{name}{tuple(tensor.shape)}".encode())
            h.update((tensor.detach().to("cpu", torch.float16) + 0.0).numpy().tobytes())  # + 0.0: -0.0 -> 0.0
        return h.hexdigest()

    @property
    def context_frames(self) -> int:
        """Latent frames of context each side that make chunked encode/decode exact."""
        c = self.config
        fine = math.ceil(self.fine.receptive_field / c.subframes)
        front = 3 if self.front is not None else 0  # its block, the phase advance and the long STFT
        return self.encoder.receptive_field + self.decoder.receptive_field + fine + 2 + front


def polar(magnitude: Tensor, phase: Tensor) -> Tensor:
    """The complex spectrum of magnitudes and phases (``torch.polar`` is 2x slower on CPU)."""
    return torch.complex(magnitude * phase.cos(), magnitude * phase.sin())


def stft(wav: Tensor, n_fft: int, hop: int, window: Tensor) -> Tensor:
    """STFT with "same" padding, frames first: (B, T), T a multiple of hop -> (B, T / hop, n_fft / 2 + 1).

    Frame ``n`` is centred on the middle of samples ``[n hop, (n + 1) hop)``.
    """
    pad = (n_fft - hop) // 2
    return torch.stft(F.pad(wav, (pad, pad)), n_fft, hop, window=window, center=False, return_complex=True).transpose(
        1, 2
    )


def istft(spec: Tensor, hop: int, window: Tensor) -> Tensor:
    """Inverse of ``stft`` for ``n_fft == 4 * hop``: (B, N, bins) -> (B, N * hop).

    The overlap-add is four shifted sums of hop-sized blocks, and so is the squared-window
    envelope it is divided by.
    """
    n_fft = 4 * hop
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * window  # (B, N, n_fft)
    b, n, _ = frames.shape
    parts = frames.reshape(b, n, 4, hop)
    first = F.pad(parts[:, :, 0], (0, 0, 0, 3))
    wav = sum((F.pad(parts[:, :, k], (0, 0, k, 3 - k)) for k in range(1, 4)), first).reshape(b, -1)  # (B, (N+3)hop)
    squares = window.square().reshape(4, hop)
    envelope = wav.new_zeros(n + 3, hop)
    for k in range(4):
        envelope[k : k + n] += squares[k]
    pad = (n_fft - hop) // 2
    return wav[:, pad:-pad] / envelope.reshape(-1)[pad:-pad].clamp_min(1e-11)


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
