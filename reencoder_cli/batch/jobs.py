"""Batch jobs: which inputs, which outputs, what to do to each, and what its record says.

Inputs are files, folders (``-r`` for sub-folders), glob patterns, ``--files-from`` lists
or ``-`` (stdin). Outputs are one explicit path, or a folder plus a name template that
mirrors the inputs' sub-folders. Every output is written to a temporary file in its folder
and renamed when complete, so an existing output is always a complete one. An input is
never overwritten. Running the jobs is ``run``'s (one file streamed) and ``stacked``'s
(short files together).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from reencoder_cli.errors import OutputError, OutputExists, UsageError
from reencoder_cli.io.audio import STDIO
from reencoder_cli.io.latentfile import SUFFIX as LATENT_SUFFIX
from reencoder_cli.io.tempfiles import remove_stale_temporaries

if TYPE_CHECKING:
    from reencoder_cli.engine.ops import OpSpec
    from reencoder_cli.io.latentfile import Latent

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".w64", ".caf", ".au", ".rf64"}
)
LOSSY_SUFFIXES = frozenset({".ogg", ".oga", ".opus", ".mp3"})  # in a batch their outputs are FLAC (``output_name``)
LOSSLESS_NOTE = "lossy input written as FLAC (--format chooses)"


@dataclass(frozen=True)
class InputFile:
    """An input and its path relative to the folder it was found in (for mirroring)."""

    path: str
    rel: Path


@dataclass(frozen=True)
class Job:
    """One input -> one output, and what its record should note about the pairing."""

    input: str
    output: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    """What to do to every file of a batch."""

    ops: tuple[OpSpec, ...]
    seed: int = 0
    keep_lowband: bool = True
    keep_mid: bool = True
    subtype: str | None = None
    format: str | None = None
    overwrite: bool = False
    skip_existing: bool = False
    out_rate: int | None = None  # output rate in Hz; None: the models' (44.1 kHz), 0: the input's
    dither: bool = True  # TPDF dither on 16-bit output
    downmix: str | None = None  # "mono" or "stereo": inputs of more channels are mixed down
    norm: float | None = None  # scale each output so its peak sits at this many dBFS


def parse_out_rate(text: str | None) -> int | None:
    """``--out-rate``: None (the models' rate), ``input`` (0: the input's rate) or a rate in Hz.

    Raises:
        UsageError: neither ``input`` nor a rate from 8000 to 192000 Hz.
    """
    if text is None:
        return None
    if text.strip().lower() == "input":
        return 0
    rate = int(text) if text.strip().isdigit() else -1
    if not 8000 <= rate <= 192000:
        raise UsageError(f"--out-rate {text!r}: give a rate in Hz from 8000 to 192000, or 'input'")
    return rate


def output_rate(spec: JobSpec, latent: Latent) -> int:
    """The rate an audio output of ``latent`` is written at under ``spec``."""
    if spec.out_rate is None:
        return latent.sample_rate
    return spec.out_rate or latent.source_rate


@dataclass
class JobResult:
    """The outcome of one job, one JSON line with ``--json``."""

    input: str
    output: str
    status: str = "failed"  # done | skipped | failed
    error: str | None = None
    in_rate: int | None = None
    out_rate: int | None = None
    channels: int | None = None
    duration: float = 0.0  # seconds of input audio
    ops: list[str] = field(default_factory=list)
    post_steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seed: int = 0
    models: dict[str, str] = field(default_factory=dict)
    subtype: str | None = None  # the output's sample type
    clipped_samples: int = 0
    seconds: float = 0.0  # wall-clock processing time
    realtime_factor: float | None = None

    def record(self) -> dict[str, object]:
        """The JSON-serialisable record."""
        return asdict(self)


# -- inputs and outputs ------------------------------------------------------------------------


def is_audio(path: Path) -> bool:
    """Whether a folder scan should pick up this file (audio or latent, not hidden)."""
    return path.suffix.lower() in AUDIO_SUFFIXES | {LATENT_SUFFIX} and not path.name.startswith(".")


def expand_inputs(
    inputs: Sequence[str], recursive: bool = False, files_from: str | None = None, stdin: TextIO | None = None
) -> list[InputFile]:
    """Files, folders, globs and list files -> sources, in order, without duplicates.

    A path that does not exist is kept, and so is a pattern that matches nothing (as the
    shell passes it on) and a folder with no audio file in it: processing it fails with a
    clear message while the rest of the batch goes on.

    Raises:
        UsageError: ``-`` mixed with other inputs, or an unreadable ``--files-from``.
    """
    items = list(inputs)
    if files_from is not None:
        items += _read_list(files_from, stdin)
    if STDIO in items and len(items) > 1:
        raise UsageError("'-' (stdin) can only be the single input")
    found: list[InputFile] = []
    for item in items:
        path = Path(item)
        if item == STDIO:
            found.append(InputFile(STDIO, Path("stdin")))
        elif path.is_dir():
            pattern = "**/*" if recursive else "*"
            inside = [
                InputFile(str(p), p.relative_to(path))
                for p in sorted(path.glob(pattern))
                if p.is_file() and is_audio(p)
            ]
            found += inside or [InputFile(item, Path(path.name))]  # kept: processing says it holds no audio
        elif not path.exists() and glob.has_magic(item) and (matches := sorted(glob.glob(item, recursive=True))):
            found += [InputFile(p, Path(Path(p).name)) for p in matches if is_audio(Path(p))]
        else:
            found.append(InputFile(item, Path(path.name)))
    unique: dict[str, InputFile] = {}
    for source in found:
        unique.setdefault(os.path.abspath(source.path) if source.path != STDIO else STDIO, source)
    return list(unique.values())


def _read_list(files_from: str, stdin: TextIO | None) -> list[str]:
    try:
        if files_from == STDIO:
            import sys

            text = (stdin or sys.stdin).read()
        else:
            text = Path(files_from).read_text()
    except OSError as exc:
        raise UsageError(f"--files-from {files_from}: {exc.strerror or exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def output_name(source: InputFile, template: str, fmt: str | None, op: str, seed: int) -> str:
    """The output file name for ``source`` from a template (keys: stem, ext, parent, op, seed).

    ``ext`` is ``--format`` when given, else the input's extension (``wav`` for stdin and
    for latent inputs decoded to audio, ``flac`` for lossy inputs: re-encoding what a model
    made into a lossy format again would throw away what it added).
    """
    stem = source.rel.stem
    in_ext = source.rel.suffix.lower()
    ext = fmt or ("wav" if in_ext in ("", LATENT_SUFFIX) else "flac" if in_ext in LOSSY_SUFFIXES else in_ext[1:])
    parent = Path(source.path).parent.name if source.path != STDIO else ""
    try:
        return template.format(stem=stem, ext=ext, parent=parent, op=op, seed=seed)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(f"--name {template!r}: {exc}; keys are stem, ext, parent, op, seed") from None


def lossless(source: InputFile, name: str, fmt: str | None) -> bool:
    """Whether ``output_name`` made a lossy input's output FLAC."""
    return fmt is None and source.rel.suffix.lower() in LOSSY_SUFFIXES and name.lower().endswith(".flac")


def plan_jobs(
    sources: Sequence[InputFile],
    output: str | None,
    output_dir: str | None,
    template: str,
    fmt: str | None,
    op: str,
    seed: int,
) -> list[Job]:
    """Pair inputs with outputs: one explicit ``output``, or ``output_dir`` + template, mirroring sub-folders.

    Raises:
        UsageError: no inputs, both or neither of ``output``/``output_dir``, several
            inputs with one output file, or a template that leads out of ``output_dir``.
    """
    if not sources:
        raise UsageError("no input files (folders are scanned for audio files; use -r for sub-folders)")
    if output is not None and output_dir is not None:
        raise UsageError("give either an OUTPUT file or -o/--output-dir, not both")
    if output is not None:
        if len(sources) != 1:
            raise UsageError(f"{len(sources)} inputs but one OUTPUT file: use -o/--output-dir for batches")
        return [Job(sources[0].path, output)]
    if output_dir is None:
        raise UsageError("missing OUTPUT: give an output file, or -o/--output-dir for a batch")
    root = Path(output_dir)
    planned = [
        Job(s.path, str(root / s.rel.parent / name), (LOSSLESS_NOTE,) if lossless(s, name, fmt) else ())
        for s in sources
        if (name := output_name(s, template, fmt, op, seed))
    ]
    for job in planned:
        if os.path.relpath(os.path.normpath(job.output), os.path.normpath(root)).split(os.sep)[0] == os.pardir:
            raise UsageError(f"--name {template!r}: {job.output} would lie outside the output folder {root}")
    return planned


def shard(jobs: Sequence[Job], index: int, count: int) -> list[Job]:
    """Every ``count``-th job starting at ``index`` (0-based): a deterministic split of the list."""
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {index + 1}/{count}: expected i/N with 1 <= i <= N")
    return list(jobs[index::count])


def check_output(job: Job, overwrite: bool, skip_existing: bool) -> bool:
    """Whether to skip ``job``; create its folder.

    Raises:
        OutputError: the output is the input, or exists without --overwrite/--skip-existing.
    """
    if job.output == STDIO:
        return False
    out = Path(job.output)
    if job.input != STDIO and (
        os.path.abspath(job.input) == os.path.abspath(out)
        or (out.exists() and Path(job.input).exists() and os.path.samefile(job.input, out))
    ):
        raise OutputError(f"{job.output}: is the input; refusing to overwrite an input")
    if out.exists():
        if skip_existing:
            return True
        if not overwrite:
            raise OutputExists(f"{job.output}: exists (use --overwrite to replace it or --skip-existing)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{job.output}: cannot create its folder ({exc.strerror or exc})") from None
    remove_stale_temporaries(out.parent)
    return False
