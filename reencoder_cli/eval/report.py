"""Evaluation reports: rich tables, markdown, JSON, and spectrogram PNGs with a listening page."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.eval.evaluate import Clip, Row

UPSAMPLE_COLUMNS = ("stft", "mel", "lsd", "stft_low", "mel_low", "lsd_low", "stft_high", "mel_high", "lsd_high")
STEREO_COLUMNS = ("lr_stft", "lr_mel", "lr_lsd", "mid_stft", "mid_mel", "side_stft", "side_mel", "side_lsd")


def columns_for(rows: list[Row]) -> tuple[str, ...]:
    """The metric columns that fit the rows (band metrics or stereo metrics)."""
    keys = rows[0].metrics if rows else {}
    columns = STEREO_COLUMNS if "lr_stft" in keys else UPSAMPLE_COLUMNS
    return (*columns, "visqol") if "visqol" in keys else columns


def markdown(rows: list[Row], columns: tuple[str, ...] | None = None, title: str = "") -> str:
    """A markdown table: one row per system, metrics to 3 decimals, GFLOPs per second of audio; the
    rows' notes below it."""
    columns = columns or columns_for(rows)
    head = ["system", *columns, "GFLOPs/s"]
    lines = [f"**{title}**\n" if title else "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row.system,
            *(f"{row.metrics[c]:.3f}" for c in columns),
            f"{row.gflops:.2f}" if row.gflops is not None else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(line for line in lines if line) + "\n"
    notes = [f"{row.system}: {row.note}" for row in rows if row.note]
    return table + "".join(f"\n{note}\n" for note in notes)


def rich_table(rows: list[Row], columns: tuple[str, ...] | None = None, title: str = "") -> object:
    """The same table for the terminal (best value of each column in bold)."""
    from rich.table import Table

    columns = columns or columns_for(rows)
    caption = "; ".join(f"{row.system}: {row.note}" for row in rows if row.note)
    table = Table("system", *columns, "GFLOPs/s", title=title or None, caption=caption or None)
    best = {c: (max if c == "visqol" else min)(r.metrics[c] for r in rows) for c in columns}  # ViSQOL: higher is better
    for row in rows:
        cells = [
            f"[bold]{row.metrics[c]:.3f}[/]" if row.metrics[c] == best[c] else f"{row.metrics[c]:.3f}" for c in columns
        ]
        table.add_row(row.system, *cells, f"{row.gflops:.2f}" if row.gflops is not None else "-")
    return table


def as_json(rows: list[Row]) -> list[dict[str, object]]:
    """Rows as plain dicts (without the kept outputs)."""
    return [{"system": r.system, "metrics": r.metrics, "gflops": r.gflops, "note": r.note} for r in rows]


def slug(text: str) -> str:
    """A file-name-safe version of a system or clip name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80]


def spectrogram_db(wav: np.ndarray) -> np.ndarray:
    """Log-magnitude spectrogram (dB) of the mid channel: (C, T) -> (1025, frames)."""
    from scipy.signal import stft

    _, _, spec = stft(wav.mean(axis=0), nperseg=2048, noverlap=1536)
    return 20 * np.log10(np.abs(spec) + 1e-9)


def write_listening_page(
    folder: Path,
    clips: list[Clip],
    inputs: dict[str, np.ndarray],
    rows: list[Row],
    title: str,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Per clip: one PNG of spectrograms (reference, input, every system; one colour scale) and WAVs;
    plus ``index.html`` with audio players side by side. Returns the HTML path.

    ``inputs`` are the degraded inputs at 44.1 kHz (sinc-upsampled, or the mono downmix).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reencoder_cli.io.audio_write import write_audio

    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for clip in clips:
        entries = [("reference", clip.wav), ("input", inputs[clip.name])] + [
            (r.system, r.outputs[clip.name]) for r in rows if clip.name in r.outputs
        ]
        ref_db = spectrogram_db(clip.wav)
        vmax = float(ref_db.max())
        fig, axes = plt.subplots(len(entries), 1, figsize=(9, 1.6 * len(entries)), squeeze=False)
        players = []
        for ax, (name, wav) in zip(axes[:, 0], entries):
            ax.imshow(
                spectrogram_db(wav),
                origin="lower",
                aspect="auto",
                vmin=vmax - 90,
                vmax=vmax,
                cmap="magma",
                extent=(0, wav.shape[-1] / sample_rate, 0, sample_rate / 2000),
            )
            ax.set_title(name, fontsize=8)
            ax.set_ylabel("kHz", fontsize=7)
            ax.tick_params(labelsize=6)
            wav_name = f"{slug(clip.name)}__{slug(name)}.wav"
            write_audio(folder / wav_name, wav, sample_rate, "PCM_16")
            player = f"<audio controls preload=metadata src='{wav_name}'></audio>"
            players.append(f"<tr><td>{html.escape(name)}</td><td>{player}</td></tr>")
        fig.tight_layout()
        png = f"{slug(clip.name)}.png"
        fig.savefig(folder / png, dpi=90)
        plt.close(fig)
        sections.append(
            f"<h2>{html.escape(clip.name)}</h2><table>{''.join(players)}</table>"
            f"<img src='{png}' alt='spectrograms of {html.escape(clip.name)}' style='max-width:100%'>"
        )
    page = folder / "index.html"
    page.write_text(
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<link rel=icon href='data:,'>"  # no favicon request: a 404 would be the browser console's only error
        f"<h1>{html.escape(title)}</h1>{''.join(sections)}\n"
    )
    return page
