"""Autoencoder recipe ablations at equal compute: each variant from scratch, one change at a time.

Each variant's budget is a number of training steps: the minutes given times 60 over the
seconds one of its steps takes on this machine (``time``, measured alone, one thread), so
two runs sharing the CPU, or a busy machine, still get equal compute. ``run`` trains one
variant (resumable), ``report`` draws the validation curves on one plot against those
equivalent minutes and writes the table.

    python benchmarks/ae_ablation.py time --out runs/ablation/timing.json
    OMP_NUM_THREADS=1 nice python benchmarks/ae_ablation.py run control --minutes 40
    python benchmarks/ae_ablation.py report --out benchmarks/results/ae-ablation
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from train_step import NoiseSampler

from reencoder_cli.models.autoencoder import Autoencoder, AutoencoderConfig
from reencoder_cli.train.autoencoder import AETrainConfig, AutoencoderTrainer, train
from reencoder_cli.train.loop import Runtime, Schedule

SPECTRAL_ONLY = 10**9  # gan_start: the adversarial phase is not part of these comparisons
ALL_MELS = (32, 64, 128, 256, 512, 1024, 2048, 4096)
# the recipe of autoencoder v1 (the control), spelled out: every variant is one change to it
CONTROL: tuple[dict[str, object], dict[str, object]] = (
    {"front_end": "complex", "gain_shape": True},
    {"noise_prob": 0.5, "stft_ffts": (512, 1024, 2048), "mel_windows": ALL_MELS[:-1]},
)
# name -> (autoencoder config changes, training config changes), each against the control
VARIANTS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "control": ({}, {}),
    "no-noise": ({}, {"noise_prob": 0.0}),
    "mel-loss": ({}, {"stft_ffts": (), "mel_windows": ALL_MELS}),
    "front-end": ({"front_end": "spectral"}, {}),
    "plain": ({"gain_shape": False}, {}),
}


def configs(name: str) -> tuple[AutoencoderConfig, AETrainConfig]:
    """The autoencoder and training configs of a variant (``VARIANTS`` or ``a+b`` combinations)."""
    model, training = dict(CONTROL[0]), CONTROL[1] | {"gan_start": SPECTRAL_ONLY}
    for part in name.split("+"):
        model |= VARIANTS[part][0]
        training |= VARIANTS[part][1]
    return replace(AutoencoderConfig(), **model), replace(AETrainConfig(), **training)


def step_seconds(name: str, steps: int = 4) -> float:
    """Best time of one training step of a variant on random music-like crops (after two warm-up steps)."""
    model_config, config = configs(name)
    valid = np.zeros((1, 44100), np.float32)
    trainer = AutoencoderTrainer(model_config, config, Runtime(torch.device("cpu")), NoiseSampler(config.crop), valid)
    for step in range(2):
        trainer.step(step)
    best = float("inf")
    for step in range(2, 2 + steps):
        start = time.perf_counter()
        trainer.step(step)
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def real_time(name: str, seconds: float = 20.0) -> tuple[float, float, int]:
    """Encode and decode speed (x real time, best of three) and parameter count of a variant."""
    ae = Autoencoder(configs(name)[0]).eval()
    wav = 0.1 * torch.randn(1, round(seconds * 44100))
    z = ae.encode(wav)
    encode = min(_timed(lambda: ae.encode(wav)) for _ in range(3))
    decode = min(_timed(lambda: ae.decode(z)) for _ in range(3))
    return seconds / encode, seconds / decode, sum(p.numel() for p in ae.parameters())


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    timing = sub.add_parser("time", help="seconds per step and encode/decode speed of every variant")
    timing.add_argument("--out", type=Path, default=Path("runs/ablation/timing.json"))
    timing.add_argument("--variants", nargs="*", default=list(VARIANTS))
    run = sub.add_parser("run", help="train one variant for its share of the budget")
    run.add_argument("variant")
    run.add_argument("--minutes", type=float, default=40.0)
    run.add_argument("--data", type=Path, default=Path("data/cache"))
    run.add_argument("--root", type=Path, default=Path("runs/ablation"))
    report = sub.add_parser("report", help="curves (PNG) and table (markdown) of every run")
    report.add_argument("--root", type=Path, default=Path("runs/ablation"))
    report.add_argument("--out", type=Path, default=Path("benchmarks/results/ae-ablation"))
    args = parser.parse_args()
    if args.command == "time":
        torch.set_num_threads(1)
        found = json.loads(args.out.read_text()) if args.out.exists() else {}
        for name in args.variants:
            encode, decode, params = real_time(name)
            found[name] = {"step_seconds": step_seconds(name), "encode_x": encode, "decode_x": decode, "params": params}
            print(name, found[name], flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(found, indent=1))
    elif args.command == "run":
        timing = json.loads((args.root / "timing.json").read_text())[args.variant]
        steps = round(args.minutes * 60 / timing["step_seconds"])
        model_config, config = configs(args.variant)
        print(f"{args.variant}: {steps} steps ({timing['step_seconds']:.3f} s each = {args.minutes} min)", flush=True)
        train(
            args.data,
            args.root / args.variant,
            device="cpu",
            schedule=Schedule(max_steps=steps, checkpoint_minutes=5.0, validate_minutes=4.0),
            model_config=model_config,
            config=config,
            command=f"python benchmarks/ae_ablation.py run {args.variant} --minutes {args.minutes}",
        )
    else:
        write_report(args.root, args.out)


def write_report(root: Path, out: Path) -> None:
    """One plot of validation mel-D against equivalent minutes, and a markdown table, for every run under ``root``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reencoder_cli.train.loop import MetricLog

    timing = json.loads((root / "timing.json").read_text())
    fig, ax = plt.subplots(figsize=(8, 5))
    rows = []
    for run in sorted(p for p in root.iterdir() if (p / "log.csv").exists()):
        values: dict[str, list[tuple[int, float]]] = {}
        for step, _, key, value in MetricLog(run / "log.csv").rows():
            if key.startswith("val/"):
                values.setdefault(key[4:], []).append((step, value))
        if not values:
            continue
        t = timing[run.name]
        minutes = [step * t["step_seconds"] / 60 for step, _ in values["mel"]]
        ax.plot(minutes, [v for _, v in values["mel"]], marker=".", label=run.name)
        last = {k: v[-1][1] for k, v in values.items()}
        rows.append(
            f"| {run.name} | {t['params'] / 1e6:.2f} | {t['step_seconds']:.3f} | {values['mel'][-1][0]} | "
            f"{last['mel']:.3f} | {last['stft']:.3f} | {last['mix_mel'] / last['mel']:.2f} | "
            f"{t['encode_x']:.0f} / {t['decode_x']:.0f} |"
        )
    ax.set_xlabel("equivalent minutes (steps x seconds per step, one thread)")
    ax.set_ylabel("validation mel-D")
    ax.grid(alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=90)
    header = (
        "| variant | params (M) | s / step | steps | mel-D | STFT-D | mix mel-D / mel-D | encode / decode x RT |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    out.with_suffix(".md").write_text(header + "\n".join(rows) + "\n")
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
