"""A training run's validation curve: mel-D (and the mixture's) against steps and hours, with a
reference line (e.g. the shipped autoencoder on the same clips), as a PNG and a markdown table.

    python benchmarks/ae_curve.py runs/ae-v2 --reference 1.406 --out benchmarks/results/ae-v2-curve
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reencoder_cli.train.loop import MetricLog


def curve(run: Path, key: str) -> list[tuple[int, float, float]]:
    """(step, hours of training, value) of each validation of ``key`` in ``run/log.csv``."""
    return [(step, seconds / 3600, value) for step, seconds, k, value in MetricLog(run / "log.csv").rows() if k == key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--reference", type=float, help="a mel-D to draw as a line (the shipped autoencoder's)")
    parser.add_argument("--label", default="shipped autoencoder")
    parser.add_argument("--out", type=Path, required=True, help="output path without suffix (.png, .md)")
    args = parser.parse_args()
    mel, mix = curve(args.run, "val/mel"), curve(args.run, "val/mix_mel")
    if not mel:
        raise SystemExit(f"{args.run}/log.csv has no validation rows")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, x, label in ((axes[0], 0, "step"), (axes[1], 1, "hours of training")):
        ax.plot([r[x] for r in mel], [r[2] for r in mel], "o-", ms=3, label="mel-D")
        ax.plot([r[x] for r in mix], [r[2] for r in mix], "s--", ms=3, label="mel-D of latent mixtures")
        if args.reference is not None:
            ax.axhline(args.reference, color="gray", ls=":", label=args.label)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation mel-D (lower is better)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{args.run.name}: validation", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out.with_suffix(".png"), dpi=90)
    mixes = {step: value for step, _, value in mix}
    lines = ["| step | hours | mel-D | mel-D of latent mixtures |", "|---|---|---|---|"]
    lines += [f"| {s} | {h:.2f} | {v:.3f} | {mixes.get(s, float('nan')):.3f} |" for s, h, v in mel]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
