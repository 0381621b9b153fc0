"""The command line: ``reencoder COMMAND ...`` (Typer + rich).

Only this package prints. Audio, JSON records and a command's result for people (tables,
listings: ``ops``, ``models``, ``env``, ``probe``, ``eval``, ``bench``) go to stdout; logs,
progress and errors go to stderr. Heavy imports (torch, models) happen inside commands, so ``--help`` is
instant. Exit codes: 0 all done, 1 some file failed, 2 usage error.
"""

from __future__ import annotations

from reencoder_cli.cli import evaluation, files, info, train  # noqa: F401  (register the commands)
from reencoder_cli.cli.app import app, stop_on_signals

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point."""
    from reencoder_cli.system import tune_allocator

    tune_allocator()
    stop_on_signals()
    app()
