"""Training runs' validation curves: mel-D, and where logged the mel-D of latent mixtures and of
noisy latents, against steps and hours, with a reference line (e.g. the shipped autoencoder on
the same clips), as a PNG and a markdown table.

    python benchmarks/ae_curve.py runs/ae-v2 --reference 1.406 --out benchmarks/results/ae-v2-curve
    python benchmarks/ae_curve.py runs/ae-v2-dec-0.03 runs/ae-v2-dec-0.1 --out benchmarks/results/ae-v2-decoder-noise
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reencoder_cli.train.loop import MetricLog

# log key -> label and line style
KEYS = {
    "val/mel": ("mel-D", "o-"),
    "val/mix_mel": ("mel-D of latent mixtures", "s--"),
    "val/noisy_mel": ("mel-D, latent noise 0.1", "^:"),
}


def curve(run: Path, key: str) -> list[tuple[int, float, float]]:
    """(step, hours of training, value) of each validation of ``key`` in ``run/log.csv``."""
    return [(step, seconds / 3600, value) for step, seconds, k, value in MetricLog(run / "log.csv").rows() if k == key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--reference", type=float, help="a mel-D to draw as a line (the shipped autoencoder's)")
    parser.add_argument("--label", default="shipped autoencoder")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix (.png, .md)")
    args = parser.parse_args()
    curves = {run: {key: c for key in KEYS if (c := curve(run, key))} for run in args.runs}
    for run, logged in curves.items():
        if "val/mel" not in logged:
            raise SystemExit(f"{run}/log.csv has no validation rows")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, x, label in ((axes[0], 0, "step"), (axes[1], 1, "hours of training")):
        for i, (run, logged) in enumerate(curves.items()):
            prefix = f"{run.name}: " if len(curves) > 1 else ""
            for key, rows in logged.items():
                name, style = KEYS[key]
                ax.plot([r[x] for r in rows], [r[2] for r in rows], style, ms=3, color=f"C{i}", label=prefix + name)
        if args.reference is not None:
            ax.axhline(args.reference, color="gray", ls=":", label=args.label)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation mel-D (lower is better)")
    axes[0].legend(fontsize=7)
    fig.suptitle(", ".join(run.name for run in curves) + ": validation", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out.with_suffix(".png"), dpi=90)
    lines = []
    for run, logged in curves.items():
        values = {key: {step: value for step, _, value in rows} for key, rows in logged.items()}
        lines += [f"**{run.name}**", "", "| step | hours | " + " | ".join(KEYS[k][0] for k in logged) + " |"]
        lines.append("|---|---|" + "---|" * len(logged))
        for step, hours, _ in logged["val/mel"]:
            cells = " | ".join(f"{values[k].get(step, float('nan')):.3f}" for k in logged)
            lines.append(f"| {step} | {hours:.2f} | {cells} |")
        lines.append("")
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
