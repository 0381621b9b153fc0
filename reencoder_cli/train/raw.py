"""Training of the raw-audio bandwidth-extension baseline (``rawbwe``) on waveform crops.

Each crop is degraded on the fly: resampled to a random supported rate and back to 44.1
kHz (soxr), exactly as ``reencoder eval`` degrades its references. The loss is the
multi-resolution STFT distance of DESIGN.md (auraloss), on the waveform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.data.crops import CropSampler
from reencoder_cli.models.rawbwe import ARCH, RawBWE, RawBWEConfig
from reencoder_cli.train.loop import Runtime, Schedule, optimizer_step, unwrap, warmup_lr


@dataclass(frozen=True)
class RawTrainConfig:
    """Hyper-parameters (stored with the weights)."""

    crop: int = 16384
    batch: int = 8
    lr: float = 5e-4
    warmup: int = 200
    grad_clip: float = 10.0
    seed: int = 0


def degrade(wav: np.ndarray, rate: int) -> np.ndarray:
    """Sinc round trip through ``rate``: (T,) at 44.1 kHz -> (T,) band-limited to rate / 2."""
    from reencoder_cli.io.audio import resample

    out = resample(resample(wav[None], SAMPLE_RATE, rate), rate, SAMPLE_RATE)[0, : wav.shape[-1]]
    return np.pad(out, (0, wav.shape[-1] - out.shape[-1]))  # the round trip can lose a sample


class RawTrainer:
    """Implements ``loop.Trainer`` for the raw baseline."""

    watch = "loss"

    def __init__(
        self,
        model_config: RawBWEConfig,
        config: RawTrainConfig,
        runtime: Runtime,
        sampler: CropSampler,
        valid: np.ndarray,
    ) -> None:
        import auraloss

        torch.manual_seed(config.seed)
        self.config, self.model_config, self.runtime, self.sampler = config, model_config, runtime, sampler
        self.model = runtime.wrap(RawBWE(model_config))
        self.loss_fn = auraloss.freq.MultiResolutionSTFTLoss().to(runtime.device)
        self.modules: dict[str, nn.Module] = {"model": self.model}
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "model": torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=1e-4)
        }
        self.rng = np.random.default_rng(config.seed + runtime.rank)
        rates = model_config.rates
        self.valid = [(valid[i], i % len(rates)) for i in range(len(valid))]

    def batch(self, clean: np.ndarray, rate_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Degraded inputs, targets and rate indices on the device."""
        rates = self.model_config.rates
        low = np.stack([degrade(x, rates[r]) for x, r in zip(clean, rate_ids)])
        dev = self.runtime.device
        return (
            torch.from_numpy(low).to(dev),
            torch.from_numpy(np.ascontiguousarray(clean)).to(dev),
            torch.tensor(rate_ids, device=dev),
        )

    def step(self, step: int) -> dict[str, float]:
        c = self.config
        for group in self.optimizers["model"].param_groups:
            group["lr"] = c.lr * warmup_lr(step, c.warmup)
        clean = self.sampler.mono(c.batch)
        low, target, rate = self.batch(clean, list(self.rng.integers(0, len(self.model_config.rates), c.batch)))
        with self.runtime.autocast():
            est = self.model(low, rate)
        loss = self.loss_fn(est.float()[:, None], target[:, None])
        optimizer_step(self.optimizers["model"], self.model, loss, c.grad_clip)
        return {"loss": loss.item()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Multi-resolution STFT loss on fixed validation clips, each at a fixed rate."""
        self.model.eval()
        losses = []
        for clip, r in self.valid:
            low, target, rate = self.batch(clip[None], [r])
            losses.append(self.loss_fn(self.model(low, rate)[:, None], target[:, None]).item())
        self.model.train()
        return {"loss": float(np.mean(losses))}


def train(
    data: Path,
    run_dir: Path,
    *,
    model_config: RawBWEConfig = RawBWEConfig(),
    config: RawTrainConfig = RawTrainConfig(),
    device: str = "auto",
    schedule: Schedule | None = None,
    command: str = "",
    log: Callable[[str], None] = print,
) -> Path:
    """Train (or resume) the raw baseline on the music cache; export ``run_dir/rawbwe.safetensors``."""
    from reencoder_cli.data.crops import validation_clips
    from reencoder_cli.data.music import load_manifest
    from reencoder_cli.io.modelfile import save_model
    from reencoder_cli.train.loop import fit, setup_runtime

    runtime = setup_runtime(device)
    sampler = CropSampler(data, load_manifest(data, "train"), config.crop, seed=config.seed + 1000 * runtime.rank)
    valid = validation_clips(data, load_manifest(data, "valid"), seconds=3.0, per_track=1).mean(axis=1)
    trainer = RawTrainer(model_config, config, runtime, sampler, valid)
    out = run_dir / f"{ARCH}.safetensors"

    def export(step: int) -> None:
        info = {
            "command": command,
            "steps": step,
            "config": asdict(config),
            "data": sorted({t.source for t in load_manifest(data)}),
        }
        save_model(
            out,
            unwrap(trainer.model),
            ARCH,
            model_config,
            train=info,
            dtype=torch.float16,
        )

    fit(trainer, run_dir, runtime, schedule or Schedule(), export=export, log=log)
    return out
