"""Options shared by every file command, added to each command's signature by ``job_command``."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer

from reencoder_cli.cli.app import NORM_DB, errors_handled
from reencoder_cli.constants import SAMPLE_RATE


@dataclass(frozen=True)
class JobOptions:
    """Options shared by every command that processes files."""

    output_dir: str | None
    name: str | None
    format: str | None
    subtype: str | None
    recursive: bool
    files_from: str | None
    overwrite: bool
    skip_existing: bool
    fail_fast: bool
    shard: str | None
    json: bool
    quiet: bool
    device: str
    autoencoder: str
    offline: bool
    seed: int
    chunk_seconds: float
    batch_size: int
    out_rate: str | None
    dither: bool
    downmix: str | None
    norm: float | None


def _option(name: str, kind: Any, default: Any, *decls: str, help: str, **extra: Any) -> inspect.Parameter:
    option = typer.Option(*decls, help=help, rich_help_panel="Common options", **extra)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])


COMMON = (
    _option("output_dir", Optional[str], None, "-o", "--output-dir", help="Write outputs into this folder (batches)."),
    _option(
        "name", Optional[str], None, "--name", help="Output name template; keys {stem} {ext} {parent} {op} {seed}."
    ),
    _option(
        "format", Optional[str], None, "--format", help="Output format (wav, flac, ogg...); default: from the name."
    ),
    _option(
        "subtype",
        Optional[str],
        None,
        "--subtype",
        help="PCM_16, PCM_24 or FLOAT (default: the input's precision, 16-bit for lossy inputs).",
    ),
    _option("recursive", bool, False, "-r", "--recursive", help="Scan input folders recursively."),
    _option("files_from", Optional[str], None, "--files-from", help="Read input paths from FILE ('-' = stdin)."),
    _option("overwrite", bool, False, "--overwrite", help="Replace existing outputs (never an input)."),
    _option("skip_existing", bool, False, "--skip-existing", help="Skip inputs whose output already exists."),
    _option("fail_fast", bool, False, "--fail-fast", help="Stop at the first failed file."),
    _option("shard", Optional[str], None, "--shard", help="Process only part i/N of the inputs (Slurm arrays: auto)."),
    _option("json", bool, False, "--json", help="One JSON line per file on stdout."),
    _option("quiet", bool, False, "-q", "--quiet", help="Only errors on stderr."),
    _option("device", str, "auto", "--device", help="auto, cpu, cuda or cuda:N."),
    _option("autoencoder", str, "autoencoder", "--autoencoder", help="Autoencoder weights: name, path or hf://."),
    _option("offline", bool, False, "--offline", help="Never download weights (also HF_HUB_OFFLINE=1)."),
    _option("seed", int, 0, "--seed", help="Seed of random ops: same seed, same output."),
    _option("chunk_seconds", float, 30.0, "--chunk-seconds", help="Audio per processing chunk (bounds memory)."),
    _option(
        "batch_size", int, 1, "--batch-size", help="Files per group; short files of equal length share model calls."
    ),
    _option(
        "out_rate",
        Optional[str],
        None,
        "--out-rate",
        help=f"Output sample rate in Hz, or 'input' for the input's (default {SAMPLE_RATE}, the models' rate; "
        "soxr VHQ).",
    ),
    _option("dither", bool, True, "--dither/--no-dither", help="TPDF dither on 16-bit output, as sox does."),
    _option(
        "downmix",
        Optional[str],
        None,
        "--downmix",
        help="mono or stereo: mix inputs of more channels down (5.1 and 7.1 by ITU-R BS.775), as ffmpeg -ac does.",
    ),
    _option(
        "norm",
        Optional[float],
        None,
        "--norm",
        help=f"--norm[=DB]: scale each output so its peak sits at DB dBFS (alone: {NORM_DB}), as sox --norm.",
    ),
)


def job_command(fn: Callable[..., None]) -> Callable[..., None]:
    """Give a command the common options (received as ``opts``) and clean error handling."""
    hints = typing.get_type_hints(fn, include_extras=True)  # resolve string annotations for Typer
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(fn).parameters.values() if p.name != "opts"]
    names = [p.name for p in COMMON]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> None:
        opts = JobOptions(**{k: kwargs.pop(k) for k in names})
        with errors_handled():
            fn(**kwargs, opts=opts)

    wrapper.__signature__ = inspect.Signature(own + list(COMMON))  # type: ignore[attr-defined]
    return wrapper


PathsArg = Annotated[
    Optional[list[str]], typer.Argument(help="INPUT... [OUTPUT]; '-' = stdin/stdout.", show_default=False)
]
OpArg = Annotated[Optional[list[str]], typer.Option("--op", help="NAME[:k=v,...], repeatable; see `reencoder ops`.")]
