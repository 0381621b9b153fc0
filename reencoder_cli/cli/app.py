"""The Typer application, its two consoles, and how errors become one line and an exit code."""

from __future__ import annotations

import signal
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from reencoder_cli.errors import ReencoderError, Terminated

NORM_DB = -0.1  # ``--norm`` given without a level, as ``--norm=-0.1``


class Group(TyperGroup):
    """The command group: ``--norm`` alone means ``--norm=-0.1``, as sox's ``--norm[=dB]`` (Typer cannot say it)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: click's Context, or Typer's copy of it
        end = args.index("--") if "--" in args else len(args)
        args = [f"--norm={NORM_DB}" if a == "--norm" else a for a in args[:end]] + args[end:]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="reencoder",
    cls=Group,
    help="Music processing in the latent space of a frozen neural audio autoencoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True, highlight=False, soft_wrap=True)  # logs and errors; lines never wrap mid-message
out = Console(highlight=False, soft_wrap=True)  # a command's result for people (tables, listings): stdout, pipeable


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line on stderr; return the Exit to raise."""
    console.print(f"[bold red]reencoder: error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(code)


# -- errors and signals -------------------------------------------------------------------------


class errors_handled:
    """Turn library errors into one line on stderr and an exit code; Ctrl-C into exit 130,
    SIGTERM and SIGHUP (see ``stop_on_signals``) into 128 + the signal's number."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ReencoderError):
            raise fail(str(exc), exc.exit_code)
        if isinstance(exc, KeyboardInterrupt):
            raise fail("interrupted", 130)
        if isinstance(exc, Terminated):
            raise fail(f"stopped by {signal.Signals(exc.signum).name}", 128 + exc.signum)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP unwind the program as Ctrl-C does (``Terminated``), so every temporary is removed."""

    def stop(signum: int, frame: object) -> None:
        raise Terminated(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
