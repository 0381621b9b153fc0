"""The autoencoder's reconstruction losses against independent implementations (auraloss, librosa)."""

import auraloss
import librosa
import numpy as np
import torch

from reencoder_cli.train.losses import ReconstructionLoss


def signals() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ref = 0.1 * torch.randn(3, 8192, generator=gen)
    est = ref + 0.05 * torch.randn(3, 8192, generator=gen)
    est[0, :2000] = 0.0  # digital silence: magnitudes of exactly zero must not give NaN gradients
    return est, ref


def test_stft_term_equals_auraloss() -> None:
    est, ref = signals()
    ffts = (512, 1024, 2048)
    expected = auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=list(ffts), hop_sizes=[n // 4 for n in ffts], win_lengths=list(ffts)
    )(est[:, None], ref[:, None])
    got = ReconstructionLoss(stft_ffts=ffts)(est, ref)["stft"]
    assert torch.allclose(got, expected, rtol=1e-5)


def test_mel_term_equals_librosa_log_mel_l1() -> None:
    est, ref = signals()
    windows, mels = (64, 1024), (10, 160)
    expected = []
    for w, m in zip(windows, mels):
        spec = [
            librosa.feature.melspectrogram(
                y=x.numpy(), sr=44100, n_fft=w, hop_length=w // 4, n_mels=m, power=1.0, pad_mode="reflect", fmax=22050
            )
            for x in (est, ref)
        ]
        expected.append(np.abs(np.log10(np.maximum(spec[0], 1e-5)) - np.log10(np.maximum(spec[1], 1e-5))).mean())
    got = ReconstructionLoss(mel_windows=windows, mels=mels)(est, ref)["mel"]
    assert abs(got.item() - np.mean(expected)) < 1e-4


def test_only_the_complex_term_sees_phase_and_gradients_stay_finite() -> None:
    est, ref = signals()
    loss = ReconstructionLoss()
    flipped = loss(-ref, ref)  # same magnitudes, opposite phase
    assert flipped["mel"].item() < 1e-6 and flipped["stft"].item() < 1e-6
    assert flipped["complex"].item() > 0.1
    same = loss(ref, ref)
    assert all(v.item() < 1e-6 for v in same.values())
    x = est.clone().requires_grad_()
    terms = loss(x, ref)
    sum(terms.values()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_log_mel_term_of_a_6_db_gain_is_log10_of_2() -> None:
    _, ref = signals()  # loud enough that no mel value reaches the 1e-5 floor
    loss = ReconstructionLoss(mel_windows=(512, 2048, 4096), stft_ffts=(), complex_ffts=())
    terms = loss(2 * ref, ref)
    assert abs(terms["mel"].item() - np.log10(2)) < 1e-5
    assert terms["stft"].item() == 0 and terms["complex"].item() == 0  # no resolutions: nothing computed
