"""``--plot`` of ``upsample``, ``upmix`` and ``run``: one figure per file done (``plots``), named after its output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from reencoder_cli.cli.app import console
from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.errors import ReencoderError, UsageError

if TYPE_CHECKING:
    from reencoder_cli.batch.jobs import Job, JobResult
    from reencoder_cli.eval.plots import Marks

PlotOption = Annotated[
    Optional[str],
    typer.Option(
        "--plot",
        help="Draw each file's input and output spectrograms (and the side and its width per band for stereo) "
        "with the content band and crossover marked: DIR gets DIR/<output name>.png, a single output may "
        "take FILE.png. Needs the [plot] extra.",
    ),
]


@dataclass
class Plotter:
    """Draws the figure of every file done at the PNG planned for its output; counts the figures that failed."""

    pngs: dict[str, Path]  # output path -> figure path
    downmix: str | None
    quiet: bool
    failed: int = 0

    def __call__(self, result: JobResult) -> None:
        """Draw ``result``'s figure (a file done), saying where it went or why it could not be drawn."""
        from reencoder_cli.eval import plots

        png = self.pngs[result.output]
        title = f"{Path(result.input).name} -> {Path(result.output).name}: {' + '.join(result.ops)}"
        try:
            plots.plot_file(result.input, result.output, png, marks(result), title, self.downmix)
        except (ReencoderError, OSError) as exc:
            self.failed += 1
            reason = str(exc.strerror or exc) if isinstance(exc, OSError) else str(exc)
            console.print(f"[bold red]failed[/] {escape(str(png))}: cannot draw the figure ({escape(reason)})")
            return
        if not self.quiet:
            console.print(f"plot {png}", markup=False)


def marks(result: JobResult) -> Marks:
    """The content band an ``upsample`` ran from and, when the input's band was kept, the crossover."""
    from reencoder_cli.dsp import post
    from reencoder_cli.engine.ops import input_rate, parse_op
    from reencoder_cli.eval import plots

    upsample = next((parse_op(op) for op in result.ops if op.partition(":")[0] == "upsample"), None)
    if upsample is None or result.in_rate is None:
        return plots.Marks()
    content = min(input_rate(upsample, result.in_rate), SAMPLE_RATE) / 2
    return plots.Marks(content, post.CROSSOVER_AT * content if "keep_lowband" in result.post_steps else None)


def plotter_for(target: str, planned: list[Job], output_dir: str | None, downmix: str | None, quiet: bool) -> Plotter:
    """Check ``--plot TARGET`` before anything is processed and name every job's figure.

    ``TARGET`` ending in ``.png`` is the figure of a single job; anything else is a folder,
    where each figure is named after its output (path under ``-o`` kept, extension ``.png``).

    Raises:
        UsageError: matplotlib missing, stdin or stdout, latent files, a ``.png`` for several
            jobs, or two outputs that would share a figure.
    """
    from reencoder_cli.eval import plots
    from reencoder_cli.io.audio import STDIO
    from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX

    if not plots.available():
        raise UsageError(f"--plot needs matplotlib: {plots.INSTALL}")
    for job in planned:
        for path, what in ((job.input, "input"), (job.output, "output")):
            if path == STDIO:
                raise UsageError(f"--plot reads the {what} again, so it cannot be '-' (stdin/stdout)")
            if path.endswith(LATENT_SUFFIX):
                raise UsageError(f"--plot draws audio; {path} is a latent file")
    if target.lower().endswith(".png"):
        if len(planned) != 1:
            raise UsageError(f"--plot {target}: one figure for {len(planned)} outputs; give a folder instead")
        return Plotter({planned[0].output: Path(target)}, downmix, quiet)
    pngs = {}
    for job in planned:
        name = os.path.relpath(job.output, output_dir) if output_dir is not None else Path(job.output).name
        pngs[job.output] = Path(target) / Path(name).with_suffix(".png")
    if len(set(pngs.values())) < len(pngs):
        raise UsageError(f"--plot {target}: two outputs differ only in their extension; give them other --name")
    return Plotter(pngs, downmix, quiet)
