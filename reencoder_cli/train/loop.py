"""The loop every trainer shares: devices, resumable checkpoints, logs, time budgets.

A trainer (autoencoder, latent modules, raw baseline) implements the small ``Trainer``
protocol; ``fit`` runs it on CPU, on CUDA (bf16 autocast) or under ``torchrun`` (DDP),
checkpoints every few minutes and on SIGTERM, resumes from the last checkpoint, logs
losses to ``log.csv`` and draws ``loss.png``. With a patience it stops once the validation
curve has flattened or turned, keeping the best weights.

Checkpoints are safetensors files (no pickle): model and optimizer tensors, with the
optimizer's hyper-parameters and the loop state as JSON metadata.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from reencoder_cli.errors import UsageError

CHECKPOINT = "checkpoint.safetensors"


@dataclass(frozen=True)
class Runtime:
    """Where training runs: device, distributed rank and world size."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs and writes checkpoints."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        """bf16 autocast on CUDA, nothing on CPU (fp32)."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def wrap(self, module: nn.Module) -> nn.Module:
        """Move to the device; wrap in DistributedDataParallel under torchrun."""
        module = module.to(self.device)
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(module, device_ids=ids)
        return module


def setup_runtime(device: str = "auto") -> Runtime:
    """Pick the device; join the process group when started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Runtime(dev, rank, world)


class Trainer(Protocol):
    """What ``fit`` needs from a model family's trainer; ``watch`` names the validation metric
    (lower is better) that says which weights are the best."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    watch: str

    def step(self, step: int) -> dict[str, float] | dict[str, torch.Tensor]:
        """One optimisation step; returns the scalar losses to log (floats, or 0-d tensors read when logged)."""
        ...

    def validate(self) -> dict[str, float]:
        """Validation metrics (main process only)."""
        ...


def optimizer_step(optimizer: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor, clip: float) -> None:
    """Backpropagate ``loss``, clip ``module``'s gradient norm to ``clip``, and step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(module.parameters(), clip)
    optimizer.step()


@torch.no_grad()
def ema_update(average: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """Move ``average``'s parameters toward ``model``'s (same architecture), by ``1 - d`` with
    ``d = min(decay, (1 + step) / (10 + step))``: a warm-up with no memory of the random start."""
    d = min(decay, (1 + step) / (10 + step))
    for p_avg, p in zip(average.parameters(), unwrap(model).parameters()):
        p_avg.lerp_(p, 1 - d)


def warmup_lr(step: int, warmup: int, decay: float = 1.0) -> float:
    """Multiplier of the base learning rate: linear warm-up, then ``decay ** steps`` after it."""
    if step < warmup:
        return (step + 1) / warmup
    return decay ** (step - warmup)


# -- checkpoints -----------------------------------------------------------------------------


def save_checkpoint(path: Path, trainer: Trainer, state: Mapping[str, object]) -> None:
    """Write modules, optimizer states and loop ``state`` to ``path`` atomically (safetensors)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    optimizers: dict[str, Any] = {}
    for name, module in trainer.modules.items():
        for key, value in unwrap(module).state_dict().items():
            tensors[f"model.{name}.{key}"] = value.detach().contiguous().clone()
    for name, opt in trainer.optimizers.items():
        sd = opt.state_dict()
        for index, slots in sd["state"].items():
            for key, value in slots.items():
                tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).contiguous().clone()
        optimizers[name] = sd["param_groups"]
    tmp = path.with_name(f".{path.name}.tmp")
    meta = json.dumps({"state": state, "optimizers": optimizers})
    save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp), metadata={"json": meta})
    os.replace(tmp, path)


def load_checkpoint(path: Path, trainer: Trainer, device: torch.device) -> dict[str, Any]:
    """Restore modules and optimizers from ``path``; return the saved loop state."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["json"])
    tensors = load_file(str(path), device=str(device))
    for name, module in trainer.modules.items():
        prefix = f"model.{name}."
        unwrap(module).load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in trainer.optimizers.items():
        if name not in meta["optimizers"]:
            continue  # an optimizer added since (e.g. the discriminator's when the GAN phase starts)
        prefix = f"optim.{name}."
        slots: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, slot = key[len(prefix) :].split(".", 1)
                slots.setdefault(int(index), {})[slot] = value.cpu() if slot == "step" else value
        opt.load_state_dict({"state": slots, "param_groups": meta["optimizers"][name]})
    return meta["state"]


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


# -- logs -------------------------------------------------------------------------------------


class MetricLog:
    """Appends ``step,seconds,key,value`` rows to ``log.csv`` (long format: new keys need no new header)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.write_text("step,seconds,key,value\n")

    def write(self, step: int, seconds: float, values: dict[str, float]) -> None:
        """Append one row per value."""
        with self.path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            for key, value in values.items():
                writer.writerow([step, f"{seconds:.1f}", key, f"{value:.6g}"])

    def rows(self) -> Iterator[tuple[int, float, str, float]]:
        """Every logged row."""
        with self.path.open() as fh:
            for row in csv.DictReader(fh):
                yield int(row["step"]), float(row["seconds"]), row["key"], float(row["value"])


def plot_log(log: MetricLog, png: Path, smooth: int = 50) -> None:
    """Draw each logged key against steps (moving average over ``smooth`` points) into ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    series: dict[str, tuple[list[int], list[float]]] = {}
    for step, _, key, value in log.rows():
        steps, values = series.setdefault(key, ([], []))
        steps.append(step)
        values.append(value)
    if not series:
        return
    cols = min(4, len(series))
    rows = math.ceil(len(series) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, (key, (steps, values)) in zip(axes.flat, sorted(series.items())):
        k = min(smooth, max(1, len(values) // 5)) if not key.startswith("val/") else 1
        smoothed = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1 :], smoothed, lw=1)
        ax.set_title(key, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)


# -- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When to stop, checkpoint, validate and log (wall-clock minutes and steps)."""

    max_steps: int = 1_000_000
    max_minutes: float = float("inf")
    checkpoint_minutes: float = 5.0
    validate_minutes: float = 20.0
    log_every: int = 10
    patience: int = 0  # stop after this many validations in a row without a new best; 0: never


MIN_GAIN = 0.005  # a validation is a new best when its watched metric is this much (relative) below the best


@dataclass
class Best:
    """The best validation so far of the trainer's watched metric, and how many since were not better."""

    value: float = math.inf
    stale: int = 0

    def update(self, value: float) -> bool:
        """Count one validation; True when it is a new best."""
        if value < self.value * (1 - MIN_GAIN):
            self.value, self.stale = value, 0
            return True
        self.stale += 1
        return False


def fit(
    trainer: Trainer,
    run_dir: Path,
    runtime: Runtime,
    schedule: Schedule,
    export: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> int:
    """Train until ``max_steps``, ``max_minutes`` or, with a ``patience``, until that many
    validations in a row bring no new best; resume from ``run_dir`` if a checkpoint exists.
    ``export(step)`` writes the shippable weights: at each checkpoint, or with a patience at
    each new best validation (so that the file holds the best weights seen).

    Returns:
        The step reached.

    Raises:
        UsageError: a patience under ``torchrun`` (only the main process validates).
    """
    if schedule.patience and runtime.world > 1:
        raise UsageError("a patience needs a single process: under torchrun only the main one validates")
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / CHECKPOINT
    step, elapsed, best = 0, 0.0, Best()
    if ckpt.exists():
        state = load_checkpoint(ckpt, trainer, runtime.device)
        step, elapsed = int(state["step"]), float(state["seconds"])
        best = Best(float(state.get("best", math.inf)), int(state.get("stale", 0)))
        log(f"resumed from {ckpt} at step {step}")
    resumed_at = step if ckpt.exists() else None
    metrics = MetricLog(run_dir / "log.csv") if runtime.is_main else None

    def checkpoint() -> None:
        state: dict[str, float] = {"step": step, "seconds": time.monotonic() - start}
        state |= {"best": best.value, "stale": best.stale}
        _checkpoint(trainer, ckpt, runtime, state, metrics, None if schedule.patience else export)

    def validated() -> None:
        assert metrics is not None
        values = trainer.validate()
        metrics.write(step, time.monotonic() - start, {f"val/{k}": v for k, v in values.items()})
        if best.update(values[trainer.watch]) and schedule.patience:
            checkpoint()  # a resumed run then knows the best that the exported file holds
            if export:
                export(step)

    stop = {"now": False}
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    start = time.monotonic() - elapsed
    last_ckpt = last_val = time.monotonic()
    sums: dict[str, float | torch.Tensor] = {}
    flat = False
    try:
        while step < schedule.max_steps and not stop["now"] and not flat:
            if (time.monotonic() - start) / 60 >= schedule.max_minutes:
                break
            losses = trainer.step(step)
            step += 1
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            if step % schedule.log_every == 0:
                means = {k: float(v) / schedule.log_every for k, v in sums.items()}  # the only device sync
                sums = {}
                if metrics:
                    metrics.write(step, time.monotonic() - start, means)
                    if step % (schedule.log_every * 10) == 0:
                        log(f"step {step} " + " ".join(f"{k}={v:.4g}" for k, v in means.items()))
            if metrics and (time.monotonic() - last_val) / 60 >= schedule.validate_minutes:
                validated()
                last_val = time.monotonic()
                flat = 0 < schedule.patience <= best.stale
            if (time.monotonic() - last_ckpt) / 60 >= schedule.checkpoint_minutes:
                checkpoint()
                last_ckpt = time.monotonic()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if step == resumed_at:
        log(
            f"nothing trained: the run already has {step} steps and {elapsed / 60:.1f} minutes, and --steps "
            "and --minutes count the whole run; raise them to go on"
        )
        return step
    if flat:
        log(f"stopped at step {step}: {best.stale} validations without a new best ({trainer.watch} {best.value:.4g})")
    elif metrics:
        validated()
    checkpoint()
    return step


def _checkpoint(
    trainer: Trainer,
    ckpt: Path,
    runtime: Runtime,
    state: dict[str, float],
    metrics: MetricLog | None,
    export: Callable[[int], None] | None,
) -> None:
    if not runtime.is_main:
        return
    save_checkpoint(ckpt, trainer, state)
    if metrics:
        plot_log(metrics, ckpt.parent / "loss.png")
    if export:
        export(int(state["step"]))
