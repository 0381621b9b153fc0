"""Information commands: probe (what files hold), models (what is shipped) and env (this installation)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from reencoder_cli.cli.app import app, console, errors_handled, out


@app.command()
def probe(
    paths: Annotated[
        Optional[list[str]], typer.Argument(help="Audio or .latent files, folders or globs ('-' = stdin).")
    ] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Scan input folders recursively.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per file on stdout.")] = False,
) -> None:
    """What files hold: for audio, rate, channels, sample type, length, levels and the band the content
    fills; for .latent files, shape, length, source rate, autoencoder and ops."""
    with errors_handled():
        from reencoder_cli.batch.jobs import expand_inputs
        from reencoder_cli.errors import ReencoderError, UsageError, about
        from reencoder_cli.eval.probe import probe as probe_file
        from reencoder_cli.eval.probe import probe_latent
        from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX

        sources = expand_inputs(list(paths or []), recursive)
        if not sources:
            raise UsageError("no input files (folders are scanned for audio files; use -r for sub-folders)")
        failed = 0
        for source in sources:
            try:
                latent = source.path.endswith(LATENT_SUFFIX)
                facts = probe_latent(source.path) if latent else probe_file(source.path)
            except ReencoderError as exc:
                failed += 1
                console.print(f"[bold red]failed[/] {escape(about(exc, source.path))}")
                continue
            if json_out:
                sys.stdout.write(json.dumps(facts.record()) + "\n")
                sys.stdout.flush()
            else:
                out.print(facts.line(), markup=False)
        if failed:
            raise typer.Exit(1)


@app.command()
def models(
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON on stdout.")] = False,
) -> None:
    """The shipped weights: size, sha256, what each was trained on."""
    from reencoder_cli.io.modelfile import short_sha
    from reencoder_cli.io.weights import shipped, weights_dir

    with errors_handled():
        files = shipped()
    if json_out:
        sys.stdout.write(json.dumps(files, indent=1) + "\n")
        return
    from rich.table import Table

    table = Table("file", "arch", "MB", "sha256", "trained on", "steps")
    for name, entry in sorted(files.items()):
        train = entry.get("train") or {}
        data = train.get("data") or "?"  # a list of music sources (older module files: a folder)
        table.add_row(
            name,
            entry.get("arch", "?"),
            f"{entry['size'] / 1e6:.1f}",
            short_sha(entry["sha256"]),
            ", ".join(data) if isinstance(data, list) else str(data),
            _steps(train),
        )
    out.print(table if files else f"no weights in {weights_dir()} yet")


def _steps(train: dict[str, Any]) -> str:
    """Training steps, those of the weights a run started from first (``15705+6000``)."""
    steps = str(train.get("steps", "?"))
    init = train.get("init") or {}
    return f"{init['steps']}+{steps}" if init.get("steps") is not None else steps


@app.command()
def env() -> None:
    """Versions, devices and threads of this installation."""
    import platform

    import numpy
    import soundfile
    import soxr
    import torch

    from reencoder_cli.constants import VERSION
    from reencoder_cli.io.tempfiles import SCRATCH_ENV, scratch_dir
    from reencoder_cli.io.weights import weights_dir

    cuda = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    rows = {
        "reencoder": VERSION,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "soundfile": f"{soundfile.__version__} (libsndfile {soundfile.__libsndfile_version__})",
        "soxr": soxr.__version__,
        "device": ", ".join(f"cuda:{i} {n}" for i, n in enumerate(cuda)) or "cpu only",
        "threads": f"{torch.get_num_threads()} (torch intra-op), {os.cpu_count()} CPUs",
        "weights": str(weights_dir()),
        "scratch": f"{scratch_dir()} (large temporaries; {SCRATCH_ENV} moves it)",
        "offline": os.environ.get("HF_HUB_OFFLINE", "0"),
    }
    for key, value in rows.items():
        out.print(f"{key:>10}: {value}", markup=False)
