"""The command line: ``reencoder COMMAND ...`` (Typer + rich).

Only this module prints. Audio and JSON records go to stdout; logs, progress and errors
go to stderr. Heavy imports (torch, models) happen inside commands, so ``--help`` is
instant. Exit codes: 0 all done, 1 some file failed, 2 usage error.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from reencoder_cli.errors import ReencoderError, UsageError

app = typer.Typer(
    name="reencoder",
    help="Music processing in the latent space of a frozen neural audio autoencoder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True, highlight=False)
DEFAULT_MODELS = {"autoencoder": "autoencoder", "bwe-s": "bwe", "stereo-s": "stereo"}
TRAIN_HINT = {"autoencoder": "autoencoder", "bwe": "bwe", "stereo": "stereo"}


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line on stderr; return the Exit to raise."""
    console.print(f"[bold red]reencoder: error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


# -- shared options -----------------------------------------------------------------------------


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


def _option(name: str, kind: Any, default: Any, *decls: str, help: str) -> inspect.Parameter:
    option = typer.Option(*decls, help=help, rich_help_panel="Common options")
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])


COMMON = (
    _option("output_dir", Optional[str], None, "-o", "--output-dir", help="Write outputs into this folder (batches)."),
    _option("name", Optional[str], None, "--name", help="Output name template; keys {stem} {ext} {parent} {op} {seed}."),
    _option("format", Optional[str], None, "--format", help="Output format (wav, flac, ogg...); default: from the name."),
    _option("subtype", Optional[str], None, "--subtype", help="PCM_16, PCM_24 or FLOAT (default PCM_16 for wav/flac)."),
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
    _option("batch_size", int, 1, "--batch-size", help="Files per group; short files of equal length share model calls."),
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


class errors_handled:
    """Turn library errors into one line on stderr and an exit code; Ctrl-C into exit 130."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, ReencoderError):
            raise fail(str(exc), exc.exit_code)
        if isinstance(exc, KeyboardInterrupt):
            raise fail("interrupted", 130)
        return False


PathsArg = Annotated[Optional[list[str]], typer.Argument(help="INPUT... [OUTPUT]; '-' = stdin/stdout.", show_default=False)]


# -- running jobs -------------------------------------------------------------------------------


def run_batch(paths: list[str] | None, opts: JobOptions, specs: list[Any], op_label: str, default_ext: str | None,
              keep_lowband: bool = True, keep_mid: bool = True) -> None:
    """Plan and run every job of a command, report each, print the summary, exit with the right code."""
    from reencoder_cli import jobs
    from reencoder_cli.pipeline import Pipeline

    paths = list(paths or [])
    output = None
    if opts.output_dir is None and (len(paths) >= 2 or (opts.files_from is None and len(paths) == 1)):
        output = paths.pop() if len(paths) >= 2 else None
        if output is None:
            raise UsageError("missing OUTPUT: give INPUT OUTPUT, or -o/--output-dir for a batch")
    if opts.json and output == jobs.STDIO:
        raise UsageError("--json writes to stdout, so the output cannot be '-' too")
    template = opts.name or "{stem}." + (default_ext or "{ext}")
    sources = jobs.expand_inputs(paths, opts.recursive, opts.files_from)
    planned = jobs.plan_jobs(sources, output, opts.output_dir, template, opts.format, op_label, opts.seed)
    planned = jobs.shard(planned, *shard_of(opts.shard))
    spec = jobs.JobSpec(tuple(specs), opts.seed, keep_lowband, keep_mid, opts.subtype, opts.format,
                        opts.overwrite, opts.skip_existing)
    pipeline = Pipeline(opts.autoencoder, opts.device, opts.chunk_seconds, opts.offline or None)
    preload(pipeline, specs)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    audio_seconds = 0.0
    start = time.perf_counter()
    from reencoder_cli.batching import process_batch

    size = max(1, opts.batch_size)
    for first in range(0, len(planned), size):
        group = planned[first : first + size]
        results = process_batch(group, spec, pipeline) if size > 1 else [jobs.process(group[0], spec, pipeline)]
        for result in results:
            counts[result.status] += 1
            audio_seconds += result.duration if result.status == "done" else 0.0
            report(result, opts)
        if opts.fail_fast and any(r.status == "failed" for r in results):
            break
    if not opts.quiet and (len(planned) > 1 or counts["failed"] or counts["skipped"]):
        elapsed = time.perf_counter() - start
        rtf = f", {audio_seconds / elapsed:.1f}x real time" if audio_seconds and elapsed else ""
        console.print(
            f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed of {len(planned)}; "
            f"{audio_seconds / 60:.1f} min of audio in {elapsed:.1f} s{rtf}"
        )
    if counts["failed"]:
        raise typer.Exit(1)


def shard_of(text: str | None) -> tuple[int, int]:
    """``--shard i/N`` (1-based), else the Slurm array variables, else the whole list: -> (index, count)."""
    if text is None:
        task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if task is None or count is None:
            return 0, 1
        first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        return int(task) - first, int(count)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected i/N, e.g. 2/8") from None
    return i - 1, n


def preload(pipeline: Any, specs: list[Any]) -> None:
    """Load the autoencoder and every model the ops name, so a missing file fails once, up front."""
    from reencoder_cli.errors import WeightsError
    from reencoder_cli.ops import OPS
    from reencoder_cli.weights import weights_dir

    wanted = [(pipeline.autoencoder_name, ())] + [
        (s.params["model"], OPS[s.name].archs) for s in specs if "model" in s.params
    ]
    for name, archs in wanted:
        try:
            _ = pipeline.ae if not archs else pipeline.module(name, archs)
        except WeightsError as exc:
            if name in DEFAULT_MODELS and not (weights_dir() / f"{name}.safetensors").exists():
                kind = DEFAULT_MODELS[name]
                raise WeightsError(
                    f"the {kind} weights '{name}' are not shipped yet ({weights_dir()}/{name}.safetensors is missing); "
                    f"train them with `reencoder train {TRAIN_HINT[kind]}` or pass a weights path"
                ) from None
            raise exc


def report(result: Any, opts: JobOptions) -> None:
    """One line per file on stderr (and the JSON record on stdout with --json)."""
    if opts.json:
        sys.stdout.write(json.dumps(result.record()) + "\n")
        sys.stdout.flush()
    if result.status == "failed":
        console.print(f"[bold red]failed[/] {result.error}", soft_wrap=True)
    elif not opts.quiet:
        rtf = f", {result.realtime_factor:.0f}x real time" if result.realtime_factor else ""
        extra = f" ({', '.join(result.post_steps)})" if result.post_steps else ""
        console.print(f"{result.status} {result.input} -> {result.output}{extra} [{result.duration:.1f} s{rtf}]",
                      soft_wrap=True, markup=False)
        if result.clipped_samples:
            console.print(f"[yellow]warning[/] {result.output}: {result.clipped_samples} samples limited to +/-1 "
                          "(use --subtype FLOAT to keep the peak)")
        for note in result.notes:
            console.print(f"note: {note}", markup=False)


# -- commands -----------------------------------------------------------------------------------


@app.command()
@job_command
def upsample(
    paths: PathsArg = None,
    from_rate: Annotated[Optional[int], typer.Option("--from-rate", help="Rate the content is band-limited to (default: the file's rate).")] = None,
    model: Annotated[str, typer.Option(help="bwe-s, bwe-m, flow-s or a weights path.")] = "bwe-s",
    steps: Annotated[int, typer.Option(help="Euler steps (flow models).")] = 1,
    keep_lowband: Annotated[bool, typer.Option(help="Keep the input below its Nyquist; the model adds only the band above.")] = True,
    *,
    opts: JobOptions,
) -> None:
    """Bandwidth extension to 44.1 kHz: upsample IN OUT."""
    from reencoder_cli.ops import parse_op

    spec = parse_op(f"upsample:model={model},rate={from_rate or 0},steps={steps}")
    run_batch(paths, opts, [spec], "upsample", None, keep_lowband=keep_lowband)


@app.command()
@job_command
def upmix(
    paths: PathsArg = None,
    width_from: Annotated[Optional[str], typer.Option("--width-from", help="Borrow the stereo image of this stereo file.")] = None,
    style_mix: Annotated[Optional[float], typer.Option("--style-mix", help="0 = random image (--seed), 1 = the reference's.")] = None,
    model: Annotated[str, typer.Option(help="stereo-s or a weights path.")] = "stereo-s",
    keep_mid: Annotated[bool, typer.Option(help="Make (L+R)/2 equal the input exactly; the model adds only the side.")] = True,
    *,
    opts: JobOptions,
) -> None:
    """Mono to stereo with a random (seeded) or borrowed stereo image: upmix IN OUT."""
    from reencoder_cli.ops import parse_op

    text = f"upmix:model={model}" + (f",width_from={width_from}" if width_from else "")
    text += f",style_mix={style_mix}" if style_mix is not None else ""
    run_batch(paths, opts, [parse_op(text)], "upmix", "wav" if opts.format is None else None, keep_mid=keep_mid)


OpArg = Annotated[Optional[list[str]], typer.Option("--op", help="NAME[:k=v,...], repeatable; see `reencoder ops`.")]


@app.command("run")
@job_command
def run_chain(
    paths: PathsArg = None,
    op: OpArg = None,
    keep_lowband: Annotated[bool, typer.Option(help="With upsample: keep the input below its Nyquist.")] = True,
    keep_mid: Annotated[bool, typer.Option(help="With upmix: make (L+R)/2 equal the input.")] = True,
    *,
    opts: JobOptions,
) -> None:
    """A chain of ops, one encode and one decode: run IN OUT --op upsample --op upmix:seed=3."""
    from reencoder_cli.ops import parse_op

    if not op:
        raise UsageError("give at least one --op (e.g. --op upsample); see `reencoder ops`")
    specs = [parse_op(text) for text in op]
    run_batch(paths, opts, specs, "+".join(s.name for s in specs), None, keep_lowband, keep_mid)


@app.command()
@job_command
def encode(paths: PathsArg = None, op: OpArg = None, *, opts: JobOptions) -> None:
    """Audio to a .latent file (optionally after ops): encode IN OUT.latent."""
    from reencoder_cli.ops import parse_op

    run_batch(paths, opts, [parse_op(t) for t in op or []], "encode", "latent")


@app.command()
@job_command
def decode(paths: PathsArg = None, op: OpArg = None, *, opts: JobOptions) -> None:
    """A .latent file to audio (optionally after ops): decode IN.latent OUT.wav."""
    from reencoder_cli.ops import parse_op

    run_batch(paths, opts, [parse_op(t) for t in op or []], "decode", None)


@app.command()
def mix(
    paths: Annotated[list[str], typer.Argument(help="INPUT INPUT... OUTPUT")],
    weight: Annotated[Optional[list[float]], typer.Option("--weight", "-w", help="One weight per input (default 1).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    autoencoder: Annotated[str, typer.Option(help="Autoencoder weights.")] = "autoencoder",
    subtype: Annotated[Optional[str], typer.Option(help="PCM_16, PCM_24 or FLOAT.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
) -> None:
    """Mix inputs as latent arithmetic (one decode): mix a.wav b.wav out.wav."""
    with errors_handled():
        from reencoder_cli import arith, audio, jobs
        from reencoder_cli.latentfile import Latent
        from reencoder_cli.pipeline import Pipeline

        if len(paths) < 3:
            raise UsageError("give at least two inputs and one output")
        *inputs, output = paths
        if weight and len(weight) != len(inputs):
            raise UsageError(f"{len(inputs)} inputs but {len(weight)} --weight values")
        for source in inputs:
            jobs.check_output(jobs.Job(source, output), overwrite, False)
        pipeline = Pipeline(autoencoder, device)
        latents = [pipeline.encode_file(p) for p in inputs]
        channels = max(lat.channels for lat in latents)
        zs = [lat.z.expand(channels, -1, -1) for lat in latents]
        z = arith.mix(zs, weight)
        length = max(lat.length for lat in latents)
        wav = pipeline.decode(Latent(z, length, pipeline.ae.sample_rate, pipeline.ae_id, pipeline.ae.sample_rate))
        written = audio.write_audio(output, wav, pipeline.ae.sample_rate, subtype)
        console.print(f"mixed {len(inputs)} inputs -> {output}" + (
            f" ({written.clipped_samples} samples limited)" if written.clipped_samples else ""), markup=False)


@app.command()
def ops() -> None:
    """List the ops usable with --op and their parameters."""
    from reencoder_cli.ops import OPS

    for name, definition in OPS.items():
        console.print(f"[bold]{name}[/]: {definition.help}")
        for key, param in definition.params.items():
            console.print(f"    {key}={param.kind.__name__} (default {param.default!r}): {param.help}", markup=False)


@app.command()
def models(
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON on stdout.")] = False,
) -> None:
    """The shipped weights: size, sha256, what each was trained on."""
    from reencoder_cli.weights import weights_dir

    manifest_path = weights_dir() / "MANIFEST.json"
    files = json.loads(manifest_path.read_text())["files"] if manifest_path.exists() else {}
    if json_out:
        sys.stdout.write(json.dumps(files, indent=1) + "\n")
        return
    from rich.table import Table

    table = Table("file", "arch", "MB", "sha256", "trained on", "steps")
    for name, entry in sorted(files.items()):
        train = entry.get("train") or {}
        table.add_row(name, entry.get("arch", "?"), f"{entry['size'] / 1e6:.1f}", entry["sha256"][:12],
                      ", ".join(train.get("data", [])) or "?", str(train.get("steps", "?")))
    console.print(table if files else f"no weights in {weights_dir()} yet")


@app.command()
def env() -> None:
    """Versions, devices and threads of this installation."""
    import platform

    import numpy
    import soundfile
    import soxr
    import torch

    from reencoder_cli import __version__
    from reencoder_cli.weights import weights_dir

    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    rows = {
        "reencoder": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "soundfile": f"{soundfile.__version__} (libsndfile {soundfile.__libsndfile_version__})",
        "soxr": soxr.__version__,
        "device": ", ".join(f"cuda:{i} {n}" for i, n in enumerate(cuda)) or "cpu only",
        "threads": f"{torch.get_num_threads()} (torch intra-op), {os.cpu_count()} CPUs",
        "weights": str(weights_dir()),
        "offline": os.environ.get("HF_HUB_OFFLINE", "0"),
    }
    for key, value in rows.items():
        console.print(f"{key:>10}: {value}", markup=False)


data_app = typer.Typer(help="Training music: Debian packages and rendered MIDI.", no_args_is_help=True)
train_app = typer.Typer(help="Train models on CPU, CUDA (bf16) or several GPUs (torchrun).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


@data_app.command("build")
def data_build(
    root: Annotated[str, typer.Option(help="Cache folder.")] = "data/cache",
    midi_pieces: Annotated[int, typer.Option(help="music21 corpus pieces to render (0 = none).")] = 200,
    soundfont: Annotated[Optional[str], typer.Option(help="General MIDI soundfont (default: best installed).")] = None,
    install: Annotated[bool, typer.Option(help="apt-get install the missing Debian packages first.")] = True,
) -> None:
    """Install, decode and render the training music into a cache with a fixed split (resumable)."""
    from pathlib import Path

    from reencoder_cli.data import build_cache

    tracks = build_cache(Path(root), lambda line: console.print(line, markup=False), midi_pieces=midi_pieces,
                         soundfont=soundfont, install=install)
    hours = sum(t.seconds for t in tracks) / 3600
    console.print(f"{len(tracks)} tracks, {hours:.1f} h in {root}/manifest.json")


TrainMinutes = Annotated[float, typer.Option(help="Stop after this many minutes (resume later).")]
TrainSteps = Annotated[int, typer.Option(help="Stop at this step.")]
TrainThreads = Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's).")]


@train_app.command("autoencoder")
def train_autoencoder(
    data: Annotated[str, typer.Option(help="Cache built by `reencoder data build`.")] = "data/cache",
    run: Annotated[str, typer.Option(help="Run folder: checkpoint, log.csv, loss.png, exported weights.")] = "runs/ae",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (torchrun picks its own).")] = "auto",
    minutes: TrainMinutes = float("inf"),
    steps: TrainSteps = 1_000_000,
    threads: TrainThreads = None,
    checkpoint_minutes: Annotated[float, typer.Option(help="Minutes between checkpoints.")] = 10.0,
    validate_minutes: Annotated[float, typer.Option(help="Minutes between validations.")] = 30.0,
) -> None:
    """Train (or resume) the autoencoder; exports RUN/autoencoder.safetensors at every checkpoint."""
    from pathlib import Path

    import torch

    from reencoder_cli.train.autoencoder import train
    from reencoder_cli.train.loop import Schedule

    if threads:
        torch.set_num_threads(threads)
    schedule = Schedule(steps, minutes, checkpoint_minutes, validate_minutes)
    out = train(Path(data), Path(run), device=device, schedule=schedule, command=" ".join(["reencoder", *sys.argv[1:]]),
                log=lambda line: console.print(line, markup=False))
    console.print(f"weights: {out}")


def _schedule(steps: int, minutes: float, checkpoint_minutes: float, validate_minutes: float) -> Any:
    from reencoder_cli.train.loop import Schedule

    return Schedule(steps, minutes, checkpoint_minutes, validate_minutes)


def _command_line() -> str:
    return " ".join(["reencoder", *sys.argv[1:]])


CheckpointMinutes = Annotated[float, typer.Option(help="Minutes between checkpoints.")]
ValidateMinutes = Annotated[float, typer.Option(help="Minutes between validations.")]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (torchrun picks its own).")]


@train_app.command("latents")
def train_latents(
    data: Annotated[str, typer.Option(help="Music cache.")] = "data/cache",
    out: Annotated[str, typer.Option(help="Latent cache folder.")] = "data/latents",
    autoencoder: Annotated[str, typer.Option(help="The frozen autoencoder.")] = "autoencoder",
    device: DeviceOpt = "auto",
) -> None:
    """Encode the music cache once, for every input condition, into latent shards (resumable)."""
    from pathlib import Path

    from reencoder_cli import latentcache

    with errors_handled():
        summary = latentcache.build(Path(data), Path(out), autoencoder, lambda line: console.print(line, markup=False),
                                    device=device)
    console.print(f"{summary['tracks']} tracks, {summary['hours']:.1f} h of audio, {summary['megabytes']:.0f} MB, "
                  f"{summary['seconds'] / 60:.1f} min")


@train_app.command("module")
def train_module(
    kind: Annotated[str, typer.Argument(help="bwe, flow or stereo.")],
    size: Annotated[str, typer.Option(help="S or M.")] = "S",
    l1_only: Annotated[bool, typer.Option("--l1-only", help="bwe: no latent discriminator.")] = False,
    latents: Annotated[str, typer.Option(help="Latent cache (`reencoder train latents`).")] = "data/latents",
    run: Annotated[Optional[str], typer.Option(help="Run folder (default runs/<kind>-<size>).")] = None,
    autoencoder: Annotated[str, typer.Option(help="The autoencoder the cache was made with.")] = "autoencoder",
    disc_channels: Annotated[int, typer.Option(help="Latent discriminator width (paper: 256).")] = 64,
    device: DeviceOpt = "auto",
    minutes: TrainMinutes = float("inf"),
    steps: TrainSteps = 1_000_000,
    threads: TrainThreads = None,
    checkpoint_minutes: CheckpointMinutes = 5.0,
    validate_minutes: ValidateMinutes = 10.0,
) -> None:
    """Train (or resume) a latent module on cached latents; exports RUN/<kind>.safetensors."""
    from dataclasses import replace
    from pathlib import Path

    import torch

    from reencoder_cli.bwe import BWE_SIZES
    from reencoder_cli.flow import FlowConfig
    from reencoder_cli.stereo import StereoConfig
    from reencoder_cli.train.latent import LatentTrainConfig, train

    if kind not in ("bwe", "flow", "stereo") or size not in BWE_SIZES:
        raise fail(f"unknown module {kind!r} size {size!r}; kinds: bwe, flow, stereo; sizes: S, M", 2)
    if threads:
        torch.set_num_threads(threads)
    sized = BWE_SIZES[size]
    shape = dict(dim=sized.dim, blocks=sized.blocks, hidden=sized.hidden)
    model_config = {"bwe": sized, "flow": FlowConfig(**shape), "stereo": StereoConfig(**shape)}[kind]
    config = LatentTrainConfig(disc_channels=disc_channels)
    if l1_only:
        config = replace(config, adv_weight=0.0, fm_weight=0.0)
    run_dir = Path(run or f"runs/{kind}-{size.lower()}{'-l1' if l1_only else ''}")
    with errors_handled():
        out = train(kind, Path(latents), run_dir, autoencoder, model_config=model_config, config=config,
                    device=device, schedule=_schedule(steps, minutes, checkpoint_minutes, validate_minutes),
                    command=_command_line(), log=lambda line: console.print(line, markup=False))
    console.print(f"weights: {out}")


@train_app.command("raw")
def train_raw(
    data: Annotated[str, typer.Option(help="Music cache.")] = "data/cache",
    run: Annotated[str, typer.Option(help="Run folder.")] = "runs/rawbwe",
    device: DeviceOpt = "auto",
    minutes: TrainMinutes = float("inf"),
    steps: TrainSteps = 1_000_000,
    threads: TrainThreads = None,
    checkpoint_minutes: CheckpointMinutes = 5.0,
    validate_minutes: ValidateMinutes = 10.0,
) -> None:
    """Train (or resume) the raw-audio bandwidth-extension baseline (spectral U-Net)."""
    from pathlib import Path

    import torch

    from reencoder_cli.train.raw import train

    if threads:
        torch.set_num_threads(threads)
    out = train(Path(data), Path(run), device=device, schedule=_schedule(steps, minutes, checkpoint_minutes,
                validate_minutes), command=_command_line(), log=lambda line: console.print(line, markup=False))
    console.print(f"weights: {out}")


@app.command("eval")
def evaluate(
    refs: Annotated[Optional[list[str]], typer.Argument(help="Reference files or folders (default: the shipped example).")] = None,
    task: Annotated[str, typer.Option(help="upsample, upmix, reconstruct or linearity.")] = "upsample",
    rate: Annotated[int, typer.Option("--from", help="upsample: the degraded input rate.")] = 22050,
    models: Annotated[Optional[list[str]], typer.Option("--model", help="Models to score (default: every shipped one for the task).")] = None,
    raw_model: Annotated[Optional[str], typer.Option(help="Raw-audio baseline (default: rawbwe if shipped).")] = None,
    seconds: Annotated[Optional[float], typer.Option(help="Clip length (default: whole files, 10 s from the cache).")] = None,
    per_file: Annotated[int, typer.Option(help="Clips per reference file / validation track.")] = 1,
    valid_cache: Annotated[Optional[str], typer.Option(help="Use the validation split of this music cache instead of REFS.")] = None,
    style_mix: Annotated[bool, typer.Option(help="upmix: also the --style-mix correlation table.")] = False,
    markdown_out: Annotated[bool, typer.Option("--markdown", help="Print a markdown table on stdout.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    plot: Annotated[Optional[str], typer.Option(help="Write spectrogram PNGs and a listening page here.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Score every system row on references: classical baselines, ceilings, our models."""
    from pathlib import Path

    import torch

    from reencoder_cli import audio, baselines, evaluate as ev, report
    from reencoder_cli.pipeline import Pipeline
    from reencoder_cli.weights import weights_dir

    with errors_handled():
        if task not in ("upsample", "upmix", "reconstruct", "linearity"):
            raise UsageError(f"unknown task {task!r}; use upsample, upmix, reconstruct or linearity")
        torch.set_num_threads(min(torch.get_num_threads(), os.cpu_count() or 1))
        if valid_cache:
            clips = ev.cache_clips(Path(valid_cache), seconds or 10.0, per_file)
        else:
            default = Path(__file__).resolve().parent.parent / "examples" / "northerners_10s.flac"
            clips = ev.load_clips(refs or [str(default)], seconds, per_file)
        pipeline = Pipeline(device=device)
        shipped = json.loads((weights_dir() / "MANIFEST.json").read_text())["files"] if (
            weights_dir() / "MANIFEST.json").exists() else {}
        by_arch = {arch: sorted(Path(n).stem for n, e in shipped.items() if e.get("arch") == arch)
                   for arch in ("bwe", "flow", "stereo", "rawbwe")}
        extra: list[dict[str, float]] = []
        if task == "upsample":
            chosen = models if models is not None else by_arch["bwe"] + by_arch["flow"]
            raw = raw_model or (by_arch["rawbwe"][0] if by_arch["rawbwe"] else None)
            rows = ev.evaluate_upsample(clips, rate, pipeline, chosen, raw, keep_outputs=bool(plot))
            inputs = {c.name: baselines.sinc_upsample(audio.resample(c.wav, 44100, rate), rate) for c in clips}
            for row in rows:
                name = row.system.split(" ")[0]
                if name in chosen or name == raw:
                    from reencoder_cli.bench import module_gflops

                    row.gflops = module_gflops(name)
        elif task == "upmix":
            model = (models or ["stereo-s"])[0]
            rows = ev.evaluate_upmix(clips, pipeline, model, keep_outputs=bool(plot))
            inputs = {c.name: audio.to_mono(c.wav) for c in clips}
            if style_mix:
                extra = ev.style_mix_correlation(clips, pipeline, model)
        elif task == "reconstruct":
            rows = ev.evaluate_reconstruct(clips, pipeline, keep_outputs=bool(plot))
            inputs = {c.name: audio.to_mono(c.wav) for c in clips}
        else:
            rows, inputs = ev.evaluate_linearity(clips, pipeline), {}
        seconds_total = sum(c.wav.shape[-1] for c in clips) / 44100
        title = f"{task}" + (f" from {rate} Hz" if task == "upsample" else "") + \
            f": {len(clips)} clips, {seconds_total:.0f} s"
        if json_out:
            sys.stdout.write(json.dumps({"task": task, "title": title, "rows": report.as_json(rows),
                                         "style_mix": extra}) + "\n")
        elif markdown_out:
            sys.stdout.write(report.markdown(rows, title=title))
            if extra:
                sys.stdout.write("\n| lambda | correlation | mean abs error (dB) |\n|---|---|---|\n" + "".join(
                    f"| {e['lambda']:.2f} | {e['correlation']:.3f} | {e['mean_abs_error_db']:.2f} |\n" for e in extra))
        else:
            console.print(report.rich_table(rows, title=title))
            for e in extra:
                console.print(f"style-mix {e['lambda']:.2f}: correlation {e['correlation']:.3f}, "
                              f"mean abs error {e['mean_abs_error_db']:.2f} dB")
        if plot and inputs:
            page = report.write_listening_page(Path(plot), clips, inputs, rows, title)
            console.print(f"listening page: {page}")


@app.command("bench")
def bench(
    models: Annotated[Optional[list[str]], typer.Option("--model", help="Weights to measure (default: every shipped one).")] = None,
    seconds: Annotated[float, typer.Option(help="Audio per model measurement.")] = 10.0,
    commands: Annotated[bool, typer.Option(help="Also time upsample/upmix end to end on a generated file.")] = True,
    minutes: Annotated[float, typer.Option(help="Length of that file.")] = 3.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Parameters, GFLOPs per second of audio, real-time factors (CPU, CUDA), peak memory."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import numpy as np
    import torch

    from reencoder_cli import audio
    from reencoder_cli import bench as b
    from reencoder_cli.weights import weights_dir

    with errors_handled():
        manifest = weights_dir() / "MANIFEST.json"
        names = models or (sorted(Path(n).stem for n in json.loads(manifest.read_text())["files"]) if manifest.exists() else [])
        if not names:
            raise UsageError("no weights to measure: none shipped and no --model given")
        rows = [row for name in names for row in b.bench_model(name, seconds)]
        command_rows = []
        if commands:
            with tempfile.TemporaryDirectory() as tmp:
                rate, n = 22050, int(minutes * 60 * 22050)
                t = np.arange(n) / rate
                wav = (0.2 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)[None]
                audio.write_audio(Path(tmp) / "in.wav", np.repeat(wav, 2, 0), rate, "PCM_16")
                for args in (["upsample", f"{tmp}/in.wav", f"{tmp}/up.wav"], ["upmix", f"{tmp}/up.wav", f"{tmp}/st.wav"],
                             ["run", f"{tmp}/in.wav", f"{tmp}/both.wav", "--op", "upsample", "--op", "upmix"]):
                    try:
                        command_rows.append(b.bench_command(args, minutes * 60))
                    except Exception as exc:  # a command whose weights are missing: report, go on
                        console.print(f"skipped {' '.join(args[:1])}: {exc}")
        threads = torch.get_num_threads()
        if json_out:
            sys.stdout.write(json.dumps({"threads": threads, "models": [dataclasses.asdict(r) for r in rows],
                                         "commands": [dataclasses.asdict(r) for r in command_rows]}) + "\n")
            return
        from rich.table import Table

        table = Table("model", "part", "params (M)", "GFLOPs/s", f"CPU x real time ({threads} threads)",
                      "CUDA x real time", "CUDA peak MB", title="models")
        for r in rows:
            table.add_row(r.name, r.part, f"{r.params_m:.2f}", f"{r.gflops_per_s:.2f}", f"{r.rtf_cpu:.0f}",
                          f"{r.rtf_cuda:.0f}" if r.rtf_cuda else "-", f"{r.peak_mb:.0f}" if r.peak_mb else "-")
        console.print(table)
        if command_rows:
            table = Table("command", "audio s", "wall s", "x real time", "peak RSS MB",
                          title=f"end to end on a {minutes:g}-minute stereo 22.05 kHz file")
            for c in command_rows:
                table.add_row(c.command.split(" ")[1], f"{c.audio_seconds:.0f}", f"{c.wall_seconds:.1f}",
                              f"{c.realtime_factor:.1f}", f"{c.peak_rss_mb:.0f}")
            console.print(table)


def main() -> None:
    """Console entry point."""
    from reencoder_cli.system import tune_allocator

    tune_allocator()
    app()
