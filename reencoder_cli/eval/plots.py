"""One figure per processed file: what went in, what came out, and for stereo how wide it is.

The input's and the output's spectrograms (their mids when stereo) on one colour scale, and
for a stereo output the side's spectrogram on the same scale plus the width per
third-octave band (side over mid power, dB), with the content band the model extended from
and the crossover where the input's own band is joined to the model's marked. Both files
are read block by block at 44.1 kHz and long ones are averaged into at most
``2 * COLUMNS`` time columns, so memory does not grow with a file's length.

matplotlib is the optional ``[plot]`` extra: it is imported only when a figure is drawn.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.dsp import post
from reencoder_cli.engine.stream import resampled
from reencoder_cli.io import audio

if TYPE_CHECKING:
    from matplotlib.axes import Axes

N_FFT = 2048
HOP = 512
COLUMNS = 1000  # a spectrogram keeps between COLUMNS and 2 * COLUMNS time columns (fewer for short files)
RANGE_DB = 90.0  # colour scale: from the loudest bin of the figure down this far
WIDTH_DB = (-30.0, 6.0)  # the width axis shows at least this range, so a flat width looks flat

DPI = 100
WIDTH_IN = 10.0  # figure width; panels are laid out in inches so the pixel size is known
LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN = 0.75, 1.05, 0.55, 0.5
PANEL_IN, GAP_IN = 1.8, 0.5
COLORBAR_IN = 0.15
INSTALL = "pip install 'reencoder[plot]' (in a checkout: pip install -e '.[plot]')"


def available() -> bool:
    """Whether matplotlib can be imported (without importing it)."""
    return importlib.util.find_spec("matplotlib") is not None


@dataclass(frozen=True)
class Marks:
    """Frequencies to mark on every panel, in Hz (None: not marked)."""

    content: float | None = None  # top of the band the input held (upsample: half the rate it ran from)
    crossover: float | None = None  # centre of the crossover joining the input's band to the model's


@dataclass(frozen=True)
class Spectrogram:
    """Mean power per STFT bin and time column of a file at 44.1 kHz.

    Attributes:
        mid: (bins, columns) of the mono signal, or of (L + R) / 2.
        side: (bins, columns) of (L - R) / 2; None for mono.
        seconds: the file's length.
    """

    mid: np.ndarray
    side: np.ndarray | None
    seconds: float


class PooledSTFT:
    """A power spectrogram computed as blocks arrive, averaged into few time columns.

    Frames (Hann, ``N_FFT``, hop ``HOP``) are averaged ``per_column`` at a time; whenever
    ``2 * COLUMNS`` columns are full, neighbours are merged and ``per_column`` doubles.

    Args:
        channels: rows of the blocks pushed.
    """

    def __init__(self, channels: int) -> None:
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.tail = np.zeros((channels, 0), np.float32)
        self.per_column = 1
        self.columns: list[np.ndarray] = []  # each (channels, bins)
        self.sum = np.zeros((channels, N_FFT // 2 + 1))
        self.count = 0

    def push(self, block: np.ndarray) -> None:
        """block: (channels, n) float32."""
        signal = np.concatenate([self.tail, block], axis=1)
        frames = (signal.shape[1] - N_FFT) // HOP + 1
        if frames <= 0:
            self.tail = signal
            return
        starts = HOP * np.arange(frames)
        power = np.abs(np.fft.rfft(signal[:, starts[:, None] + np.arange(N_FFT)] * self.window)) ** 2  # (C, n, bins)
        self.tail = signal[:, frames * HOP :]
        done = 0
        while done < frames:
            take = min(self.per_column - self.count, frames - done)
            self.sum += power[:, done : done + take].sum(axis=1)
            self.count, done = self.count + take, done + take
            if self.count == self.per_column:
                self.columns.append(self.sum / self.count)
                self.sum, self.count = np.zeros_like(self.sum), 0
                if len(self.columns) == 2 * COLUMNS:
                    self.columns = [(a + b) / 2 for a, b in zip(self.columns[::2], self.columns[1::2])]
                    self.per_column *= 2

    def finish(self) -> np.ndarray:
        """The spectrogram, the last samples in a zero-padded frame: -> (channels, bins, columns)."""
        if self.tail.shape[1] > N_FFT - HOP or not (self.columns or self.count):  # samples no frame has seen
            self.push(np.zeros((self.tail.shape[0], N_FFT - self.tail.shape[1]), np.float32))
        columns = self.columns + ([self.sum / self.count] if self.count else [])
        return np.stack(columns, axis=-1)


def spectrogram(path: str, downmix: str | None = None) -> Spectrogram:
    """Read a file block by block and measure it.

    Args:
        path: an audio file.
        downmix: as ``AudioReader``'s, for inputs of more than two channels.

    Raises:
        AudioError: the file cannot be read.
    """
    with audio.AudioReader(path, downmix) as reader:
        channels = reader.channels
        stft = PooledSTFT(channels)
        samples = 0
        # every file at the models' rate: one frequency axis
        for block in resampled(reader.blocks(), reader.sample_rate, SAMPLE_RATE, channels):
            stft.push(np.concatenate(post.mid_side(block)) if channels == 2 else block)
            samples += block.shape[1]
    power = stft.finish()
    return Spectrogram(power[0], power[1] if channels == 2 else None, samples / SAMPLE_RATE)


def band_width_db(spec: Spectrogram) -> tuple[np.ndarray, np.ndarray]:
    """Stereo width per third-octave band over the whole file: side over mid power.

    Returns:
        (bands,) centres in Hz, (bands,) width in dB; NaN where the mid lies more than
        ``RANGE_DB`` below its loudest band (no content: the ratio would be of noise floors).
    """
    assert spec.side is not None
    bands = post.third_octaves(N_FFT, SAMPLE_RATE).numpy()  # (bands, bins)
    centres = (bands @ np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)) / bands.sum(axis=1)
    mid, side = bands @ spec.mid.sum(axis=1), bands @ spec.side.sum(axis=1)
    width = 10 * np.log10((side + 1e-30) / (mid + 1e-30))
    return centres, np.where(mid > mid.max() * 10 ** (-RANGE_DB / 10), width, np.nan)


def layout(stereo: bool) -> tuple[tuple[int, int], list[tuple[float, float, float, float]]]:
    """The figure's size in pixels and its panels' rectangles, top to bottom.

    Panels: input, output, and for a stereo output the side and the width. A rectangle is
    (left, bottom, width, height) in figure fractions, as ``Figure.add_axes`` takes it.
    """
    panels = 4 if stereo else 2
    height = TOP_IN + BOTTOM_IN + panels * PANEL_IN + (panels - 1) * GAP_IN
    rects = []
    for i in range(panels):
        bottom = height - TOP_IN - (i + 1) * PANEL_IN - i * GAP_IN
        rects.append((LEFT_IN / WIDTH_IN, bottom / height, 1 - (LEFT_IN + RIGHT_IN) / WIDTH_IN, PANEL_IN / height))
    return (round(WIDTH_IN * DPI), round(height * DPI)), rects


def plot_file(
    input_path: str, output_path: str, png: str | Path, marks: Marks, title: str, downmix: str | None = None
) -> Path:
    """Draw the figure of one processed file and write it as a PNG of ``layout``'s size.

    Args:
        input_path: the input audio file.
        output_path: the output audio file.
        png: where the figure goes (its folder is made).
        marks: frequencies to mark.
        title: the figure's title.
        downmix: as the command's ``--downmix``, for the input.

    Raises:
        AudioError: either file cannot be read.
        OSError: the PNG cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    before, after = spectrogram(input_path, downmix), spectrogram(output_path)
    shown = [
        ("input, mid" if before.side is not None else "input", before.mid, before.seconds),
        ("output, mid" if after.side is not None else "output", after.mid, after.seconds),
    ]
    if after.side is not None:
        shown.append(("output, side", after.side, after.seconds))
    db = [10 * np.log10(power + 1e-20) for _, power, _ in shown]
    top = max(float(d.max()) for d in db)
    (width, height), rects = layout(after.side is not None)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    fig.suptitle(title, fontsize=10)
    axes = []
    for rect, (name, _, seconds), values in zip(rects, shown, db):
        ax = fig.add_axes(rect)
        image = ax.imshow(
            values,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - RANGE_DB,
            vmax=top,
            extent=(0, seconds, 0, SAMPLE_RATE / 2000),
            interpolation="nearest",
        )
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel("kHz", fontsize=8)
        ax.tick_params(labelsize=7)
        _mark(ax, marks, horizontal=True)
        axes.append(ax)
    if marks.content or marks.crossover:
        axes[0].legend(fontsize=7, loc="upper right", framealpha=0.6)
    axes[-1].set_xlabel("seconds", fontsize=8)
    low, high = rects[len(axes) - 1][1], rects[0][1] + rects[0][3]
    colorbar = fig.add_axes((1 - (RIGHT_IN - 0.2) / WIDTH_IN, low, COLORBAR_IN / WIDTH_IN, high - low))
    fig.colorbar(image, cax=colorbar).set_label("dB", fontsize=8)
    colorbar.tick_params(labelsize=7)
    if after.side is not None:
        _width_panel(fig.add_axes(rects[-1]), before, after, marks)
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=DPI)
    return png


def _width_panel(ax: Axes, before: Spectrogram, after: Spectrogram, marks: Marks) -> None:
    """The output's width per band (and the input's, when stereo), with the marks as vertical lines."""
    lines = [("output", after, {"color": "tab:purple"})]
    if before.side is not None:
        lines.append(("input", before, {"color": "0.5", "ls": "--"}))
    low, high = WIDTH_DB
    for name, spec, style in lines:
        centres, width = band_width_db(spec)
        ax.semilogx(centres, width, drawstyle="steps-mid", label=name, **style)
        drawn = width[np.isfinite(width)]
        low, high = min(low, drawn.min(initial=0.0) - 2), max(high, drawn.max(initial=0.0) + 2)
    ax.set_ylim(low, high)
    ax.set_xlim(50, SAMPLE_RATE / 2)
    ax.set_title("width per third-octave band: side / mid", fontsize=9, loc="left")
    ax.set_ylabel("dB", fontsize=8)
    ax.set_xlabel("Hz", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="both", alpha=0.3)
    _mark(ax, marks, horizontal=False)
    ax.legend(fontsize=7, loc="lower left")


def _mark(ax: Axes, marks: Marks, horizontal: bool) -> None:
    """Lines at the content band's top (dashed) and the crossover (dotted): horizontal in kHz, else vertical in Hz."""
    for hz, style, name in ((marks.content, "--", "content band"), (marks.crossover, ":", "crossover")):
        if hz is not None:
            label = f"{name} {hz / 1000:.1f} kHz"
            if horizontal:
                ax.axhline(hz / 1000, color="cyan", ls=style, lw=1, label=label)
            else:
                ax.axvline(hz, color="tab:cyan", ls=style, lw=1, label=label)
