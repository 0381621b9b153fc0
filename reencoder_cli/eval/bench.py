"""Benchmarks: parameters, GFLOPs per second of audio, real-time factors, peak memory.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and
convolutions, 2 per multiply-add) on ``seconds`` of input and divided by that duration.
Real-time factors are seconds of audio per second of compute, after a warm-up run.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.io.weights import load_model
from reencoder_cli.models.autoencoder import Autoencoder
from reencoder_cli.models.bwe import LatentBWE
from reencoder_cli.models.flow import LatentFlow
from reencoder_cli.models.rawbwe import RawBWE
from reencoder_cli.models.registry import model_factories
from reencoder_cli.models.stereo import LatentUpmix


@dataclass(frozen=True)
class BenchRow:
    """One model's costs."""

    name: str
    arch: str
    part: str
    params_m: float
    gflops_per_s: float
    rtf_cpu: float
    rtf_cuda: float | None
    peak_mb: float | None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (matrix products and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def realtime_factor(fn: Callable[[], object], audio_seconds: float, device: torch.device, repeats: int = 3) -> float:
    """Audio seconds processed per wall-clock second (best of ``repeats`` after a warm-up)."""
    with torch.inference_mode():
        fn()
        best = float("inf")
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
    return audio_seconds / best


def model_calls(model: nn.Module, frames: int, device: torch.device) -> dict[str, Callable[[], object]]:
    """The inference calls to measure for one model on ``frames`` latent frames (per part)."""
    if isinstance(model, Autoencoder):
        wav = torch.randn(1, frames * model.hop, device=device)
        z = model.encode(wav)
        return {"encode": lambda: model.encode(wav), "decode": lambda: model.decode(z)}
    if isinstance(model, RawBWE):
        wav = torch.randn(1, frames * 1024, device=device)
        rate = torch.zeros(1, dtype=torch.long, device=device)
        return {"module": lambda: model(wav, rate)}
    if isinstance(model, LatentBWE):
        z = torch.randn(1, model.config.latent_dim, frames, device=device)
        rate = model.rate_tensor(16000, 1, device)
        return {"module": lambda: model(z, rate)}
    if isinstance(model, LatentFlow):
        z = torch.randn(1, model.config.latent_dim, frames, device=device)
        rate = torch.zeros(1, dtype=torch.long, device=device)
        noise = torch.randn_like(z)
        return {"1 step": lambda: model.sample(z, rate, noise, 1)}
    if isinstance(model, LatentUpmix):
        z = torch.randn(1, model.config.latent_dim, frames, device=device)
        style = model.random_style(1, 0, device=device)
        return {"module": lambda: model(z, style)}
    raise ValueError(f"no benchmark for {type(model).__name__}")


def bench_model(name: str, seconds: float = 10.0, cuda: bool = True) -> list[BenchRow]:
    """Costs of a weights file, per part (encode/decode for the autoencoder)."""
    model, meta = load_model(name, model_factories())
    frames = round(seconds * SAMPLE_RATE / 1024)
    audio_seconds = frames * 1024 / SAMPLE_RATE
    params = sum(p.numel() for p in model.parameters()) / 1e6
    cpu = torch.device("cpu")
    rows = []
    for part, call in model_calls(model, frames, cpu).items():
        gflops = count_flops(call) / audio_seconds / 1e9
        rtf_cpu = realtime_factor(call, audio_seconds, cpu)
        rtf_cuda = peak = None
        if cuda and torch.cuda.is_available():
            dev = torch.device("cuda")
            gpu_call = model_calls(model.to(dev), frames, dev)[part]
            torch.cuda.reset_peak_memory_stats(dev)
            rtf_cuda = realtime_factor(gpu_call, audio_seconds, dev)
            peak = torch.cuda.max_memory_allocated(dev) / 1e6
            model.to(cpu)
        rows.append(BenchRow(name, meta.arch, part, params, gflops, rtf_cpu, rtf_cuda, peak))
    return rows


def module_gflops(name: str, seconds: float = 10.0) -> float:
    """GFLOPs per second of audio of one latent module or raw model (all parts summed)."""
    model, _ = load_model(name, model_factories())
    frames = round(seconds * SAMPLE_RATE / 1024)
    calls = model_calls(model, frames, torch.device("cpu"))
    return sum(count_flops(c) for c in calls.values()) / (frames * 1024 / SAMPLE_RATE) / 1e9


@dataclass(frozen=True)
class CommandRow:
    """End-to-end cost of a CLI command on a file (model loading and I/O included)."""

    command: str
    audio_seconds: float
    wall_seconds: float
    realtime_factor: float
    peak_rss_mb: float


def bench_command(args: list[str], audio_seconds: float) -> CommandRow:
    """Run ``reencoder ARGS`` in a child process; its wall time and peak RSS.

    The child's peak RSS is read from ``getrusage(RUSAGE_CHILDREN)``, which reports the
    largest child so far: run each command in a fresh benchmark process for exact numbers.
    """
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "reencoder_cli", *args, "-q", "--overwrite"], check=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return CommandRow("reencoder " + " ".join(args), audio_seconds, wall, audio_seconds / wall, peak)
