"""Waveform reconstruction and adversarial losses for autoencoder (and raw-audio baseline) training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiScaleMelLoss(nn.Module):
    """L1 between log10 mel spectrograms at several resolutions (the DAC recipe).

    Args:
        sample_rate: audio rate.
        windows: STFT window (= FFT) sizes; hop is a quarter of each.
        mels: mel bands per resolution.
    """

    def __init__(
        self,
        sample_rate: int = 44100,
        windows: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
        mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320),
    ) -> None:
        super().__init__()
        import librosa

        self.windows = windows
        for w, m in zip(windows, mels):
            fb = librosa.filters.mel(sr=sample_rate, n_fft=w, n_mels=m, fmin=0.0, fmax=sample_rate / 2)
            self.register_buffer(f"fb{w}", torch.from_numpy(fb).float(), persistent=False)
            self.register_buffer(f"win{w}", torch.hann_window(w), persistent=False)

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        """est, ref: (B, T) -> scalar, the mean over resolutions."""
        total = est.new_zeros(())
        for w in self.windows:
            fb, win = getattr(self, f"fb{w}"), getattr(self, f"win{w}")
            mel = [fb @ torch.stft(x.float(), w, w // 4, window=win, return_complex=True).abs() for x in (est, ref)]
            total = total + F.l1_loss(mel[0].clamp_min(1e-5).log10(), mel[1].clamp_min(1e-5).log10())
        return total / len(self.windows)


def spectral_loss(ffts: tuple[int, ...]) -> nn.Module:
    """Multi-resolution STFT loss (auraloss: spectral convergence + log-magnitude L1), hop = FFT / 4.

    The STFT-D metric uses auraloss's defaults (hops of 50-240 samples); at a quarter of the
    FFT the training loss sees the same resolutions for a fifth of the CPU time.

    Returns:
        A module ``(est, ref) -> scalar`` on (B, 1, T) waveforms.
    """
    import auraloss

    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=list(ffts), hop_sizes=[n // 4 for n in ffts], win_lengths=list(ffts)
    )


class ComplexSpectralLoss(nn.Module):
    """L1 between power-compressed complex STFTs (|X|^c e^{j phase}): supervises phase, unlike magnitude losses.

    Args:
        resolutions: (n_fft, hop) pairs.
        compress: the power applied to magnitudes.
    """

    def __init__(self, resolutions: tuple[tuple[int, int], ...] = ((1024, 256), (2048, 512)), compress: float = 0.3):
        super().__init__()
        self.resolutions, self.compress = resolutions, compress
        for n_fft, _ in resolutions:
            self.register_buffer(f"win{n_fft}", torch.hann_window(n_fft), persistent=False)

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        """est, ref: (B, T) -> scalar, mean over resolutions."""
        total = est.new_zeros(())
        for n_fft, hop in self.resolutions:
            window = getattr(self, f"win{n_fft}")
            specs = []
            for x in (est, ref):
                spec = torch.view_as_real(torch.stft(x.float(), n_fft, hop, window=window, return_complex=True))
                power = spec.square().sum(-1, keepdim=True).clamp_min(1e-12)
                specs.append(spec * power.pow((self.compress - 1) / 2))
            total = total + F.l1_loss(specs[0], specs[1])
        return total / len(self.resolutions)


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(q || N(0, I)) per element, averaged: mean, logvar (B, D, F) -> scalar."""
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean()


def discriminator_loss(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """Least-squares GAN loss of the discriminator over all its sub-outputs."""
    return sum(((1 - r).square().mean() + f.square().mean() for r, f in zip(real, fake)), real[0].new_zeros(()))


def generator_loss(fake: list[Tensor]) -> Tensor:
    """Least-squares GAN loss of the generator."""
    return sum(((1 - f).square().mean() for f in fake), fake[0].new_zeros(()))


def feature_matching_loss(real_features: list[list[Tensor]], fake_features: list[list[Tensor]]) -> Tensor:
    """Mean L1 between the discriminator's hidden features on real and generated input."""
    pairs = [(r, f) for rs, fs in zip(real_features, fake_features) for r, f in zip(rs, fs)]
    return sum((F.l1_loss(f, r.detach()) for r, f in pairs), pairs[0][0].new_zeros(())) / len(pairs)
