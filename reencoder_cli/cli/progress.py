"""The live progress of a batch on a terminal: files finished, and the stage of a long file being streamed.

Shown on stderr only when it is a terminal and ``-q`` is not given, and erased when the
batch ends, so logs, pipes and ``--json`` output never see it (as with ffmpeg's status
line or demucs' bar). Per-file lines printed meanwhile appear above it.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class BatchProgress:
    """A transient display of ``files`` jobs; every method is a no-op when not ``enabled``.

    Args:
        console: the stderr console the per-file lines go to.
        files: jobs in the batch.
        enabled: show it (stderr is a terminal and not quiet).
    """

    def __init__(self, console: Console, files: int, enabled: bool) -> None:
        self._progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[amount]}"),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            if enabled
            else None
        )
        self._files = files
        self._batch: TaskID | None = None
        self._file: TaskID | None = None
        self._description = ""
        self._finished = 0

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
            if self._files > 1:
                self._batch = self._progress.add_task("files", total=self._files, amount=f"0/{self._files}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def stage(self, name: str, stage: str, done: float, total: float) -> None:
        """A ``run.Progress`` callback: seconds of audio through ``stage`` of the file ``name``."""
        if self._progress is None:
            return
        total = max(total, done, 1e-9)  # a header may understate the length
        description, amount = f"{stage} {name}", f"{done:.0f}/{total:.0f} s"
        if self._file is not None and description != self._description:
            self._progress.remove_task(self._file)  # a new stage gets a new task: its own time estimate
            self._file = None
        if self._file is None:
            self._file = self._progress.add_task(description, total=total, amount=amount)
            self._description = description
        self._progress.update(self._file, total=total, completed=done, amount=amount)

    def finished(self, count: int) -> None:
        """``count`` more files are done, skipped or failed; the current file's stage goes."""
        if self._progress is None:
            return
        self._finished += count
        if self._file is not None:
            self._progress.remove_task(self._file)
            self._file = None
        if self._batch is not None:
            self._progress.update(self._batch, completed=self._finished, amount=f"{self._finished}/{self._files}")
