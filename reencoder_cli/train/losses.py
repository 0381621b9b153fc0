"""Waveform reconstruction and adversarial losses for autoencoder (and raw-audio baseline) training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reencoder_cli.constants import SAMPLE_RATE


class ReconstructionLoss(nn.Module):
    """Mel, multi-resolution STFT and complex-spectrum losses, from one STFT per resolution.

    Every resolution is a centred Hann STFT with hop ``n_fft / 4``, so the three losses share
    their spectra: computing each once (with one magnitude) instead of once per loss makes
    the three together about twice as fast on CPU, the largest cost of a training step.

    - ``mel``: L1 between log10 mel spectrograms at every ``mel_windows`` size (the DAC recipe);
    - ``stft``: spectral convergence + log-magnitude L1, as auraloss's
      ``MultiResolutionSTFTLoss`` computes them (tested equal), at the ``stft_ffts`` sizes; the
      STFT-D metric uses auraloss's default hops (50-240 samples), a quarter of the FFT sees
      the same resolutions for a fifth of the CPU time;
    - ``complex``: L1 between power-compressed complex spectra ``|X|^c e^{j phase}`` at the
      ``complex_ffts`` sizes, which supervises phase, unlike magnitude losses.

    Each is the mean over its resolutions; a term with no resolution is zero and costs nothing.

    Args:
        sample_rate: audio rate (for the mel filterbanks).
        mel_windows: STFT sizes of the mel loss.
        mels: mel bands per mel size (``MELS`` gives them for the usual sizes).
        stft_ffts: STFT sizes of the STFT loss.
        complex_ffts: STFT sizes of the complex loss.
        compress: the power applied to magnitudes in the complex loss.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        mel_windows: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
        mels: tuple[int, ...] | None = None,
        stft_ffts: tuple[int, ...] = (512, 1024, 2048),
        complex_ffts: tuple[int, ...] = (1024, 2048),
        compress: float = 0.3,
    ) -> None:
        super().__init__()
        import librosa

        self.mel_windows, self.stft_ffts, self.complex_ffts = mel_windows, stft_ffts, complex_ffts
        self.compress = compress
        for w, m in zip(mel_windows, mels or tuple(MELS[w] for w in mel_windows)):
            fb = librosa.filters.mel(sr=sample_rate, n_fft=w, n_mels=m, fmin=0.0, fmax=sample_rate / 2)
            self.register_buffer(f"fb{w}", torch.from_numpy(fb).float(), persistent=False)
        for n in {*mel_windows, *stft_ffts, *complex_ffts}:
            self.register_buffer(f"win{n}", torch.hann_window(n), persistent=False)

    def spectrum(self, x: Tensor, n_fft: int) -> tuple[Tensor, Tensor]:
        """Real view and power of the STFT: x (B, T) -> (B, bins, N, 2), (B, bins, N)."""
        window = getattr(self, f"win{n_fft}")
        parts = torch.view_as_real(torch.stft(x.float(), n_fft, n_fft // 4, window=window, return_complex=True))
        return parts, parts[..., 0].square() + parts[..., 1].square()

    def forward(self, est: Tensor, ref: Tensor) -> dict[str, Tensor]:
        """est, ref: (B, T) -> {"mel", "stft", "complex"}: scalars."""
        mel, stft, complex_ = est.new_zeros(()), est.new_zeros(()), est.new_zeros(())
        for n in sorted({*self.mel_windows, *self.stft_ffts, *self.complex_ffts}):
            (est_parts, est_power), (ref_parts, ref_power) = self.spectrum(est, n), self.spectrum(ref, n)
            if n in self.mel_windows:
                fb = getattr(self, f"fb{n}")
                est_mel, ref_mel = (fb @ p.clamp_min(1e-30).sqrt() for p in (est_power, ref_power))
                mel = mel + F.l1_loss(est_mel.clamp_min(1e-5).log10(), ref_mel.clamp_min(1e-5).log10())
            if n in self.stft_ffts:
                est_mag, ref_mag = (p.clamp_min(1e-8).sqrt() for p in (est_power, ref_power))
                convergence = torch.linalg.vector_norm(ref_mag - est_mag) / torch.linalg.vector_norm(ref_mag)
                stft = stft + convergence + F.l1_loss(est_mag.log(), ref_mag.log())
            if n in self.complex_ffts:
                exponent = (self.compress - 1) / 2
                est_c, ref_c = (
                    parts * p.clamp_min(1e-12).pow(exponent)[..., None]
                    for parts, p in ((est_parts, est_power), (ref_parts, ref_power))
                )
                complex_ = complex_ + F.l1_loss(est_c, ref_c)
        return {
            "mel": mel / max(1, len(self.mel_windows)),
            "stft": stft / max(1, len(self.stft_ffts)),
            "complex": complex_ / max(1, len(self.complex_ffts)),
        }


# mel bands per mel-loss window: DAC's for 32-2048 points; 4096 points keeps 2048's bands, since
# narrower ones would be thinner than its bins at low frequencies
MELS = {32: 5, 64: 10, 128: 20, 256: 40, 512: 80, 1024: 160, 2048: 320, 4096: 320}


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
