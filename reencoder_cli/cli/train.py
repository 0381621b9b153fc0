"""Data and training commands: ``reencoder data build``, ``reencoder train ...``."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from reencoder_cli.cli.app import app, console, errors_handled, fail

data_app = typer.Typer(help="Training music: Debian packages and rendered MIDI.", no_args_is_help=True)
train_app = typer.Typer(help="Train models on CPU, CUDA (bf16) or several GPUs (torchrun).", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")


def log_line(line: str) -> None:
    """One progress line of a data or training job, printed as is (no rich markup)."""
    console.print(line, markup=False)


@data_app.command("build")
def data_build(
    root: Annotated[str, typer.Option(help="Cache folder.")] = "data/cache",
    midi_pieces: Annotated[int, typer.Option(help="music21 corpus pieces to render (0 = none).")] = 200,
    soundfont: Annotated[Optional[str], typer.Option(help="General MIDI soundfont (default: best installed).")] = None,
    install: Annotated[bool, typer.Option(help="apt-get install the missing Debian packages first.")] = True,
) -> None:
    """Install, decode and render the training music into a cache with a fixed split (resumable)."""
    from pathlib import Path

    from reencoder_cli.data.music import build_cache

    with errors_handled():
        tracks = build_cache(Path(root), log_line, midi_pieces=midi_pieces, soundfont=soundfont, install=install)
    hours = sum(t.seconds for t in tracks) / 3600
    console.print(f"{len(tracks)} tracks, {hours:.1f} h in {root}/manifest.json")


@data_app.command("pack")
def data_pack(
    out: Annotated[str, typer.Argument(help="Pack folder to write.")],
    root: Annotated[str, typer.Option(help="Cache folder to pack.")] = "data/cache",
    minutes: Annotated[float, typer.Option(help="Minutes of training music (the middle of every track).")] = 100.0,
    valid_seconds: Annotated[float, typer.Option(help="Seconds kept from the middle of each validation track.")] = 13.0,
    kbps: Annotated[int, typer.Option(help="Opus bitrate per channel.")] = 48,
    stereo: Annotated[bool, typer.Option(help="Keep L and R (default: the mid only).")] = False,
) -> None:
    """Opus excerpts of the cache and its manifest: music small enough to carry to a GPU machine."""
    from pathlib import Path

    from reencoder_cli.data.pack import pack_cache

    with errors_handled():
        pack_cache(
            Path(root),
            Path(out),
            log_line,
            minutes=minutes,
            valid_seconds=valid_seconds,
            kbps=kbps,
            stereo=stereo,
        )


@data_app.command("unpack")
def data_unpack(
    pack: Annotated[str, typer.Argument(help="Pack folder (`reencoder data pack`).")],
    root: Annotated[str, typer.Option(help="Cache folder to write.")] = "data/cache",
) -> None:
    """Decode a pack into a cache that training reads (resumable)."""
    from pathlib import Path

    from reencoder_cli.data.pack import unpack

    with errors_handled():
        unpack(Path(pack), Path(root), log_line)


@data_app.command("list")
def data_list(
    root: Annotated[str, typer.Argument(help="A music cache (its manifest.json) or a latent cache.")],
) -> None:
    """The tracks of a music or latent cache as CSV (split, source, name, seconds): a model's data list."""
    import csv
    from pathlib import Path

    from reencoder_cli.data.latents import cached_tracks
    from reencoder_cli.data.music import load_manifest

    folder = Path(root)
    with errors_handled():
        tracks = load_manifest(folder) if (folder / "manifest.json").exists() else cached_tracks(folder)
    if not tracks:
        raise fail(f"{root}: neither a music cache (manifest.json) nor a latent cache (train/, valid/ shards)")
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["split", "source", "name", "seconds"])
    for t in sorted(tracks, key=lambda t: (t.split, t.source, t.name)):
        out.writerow([t.split, t.source, t.name, f"{t.seconds:.1f}"])


TrainMinutes = Annotated[
    float, typer.Option(help="Stop once the run has trained this many minutes, resumes included (resume later).")
]
TrainSteps = Annotated[int, typer.Option(help="Stop at this step (the run's, resumes included).")]
TrainThreads = Annotated[Optional[int], typer.Option(help="CPU threads (default: torch's).")]
CheckpointMinutes = Annotated[float, typer.Option(help="Minutes between checkpoints.")]
ValidateMinutes = Annotated[float, typer.Option(help="Minutes between validations.")]
Patience = Annotated[
    int,
    typer.Option(
        min=0,
        help="Stop after this many validations in a row without a new best (0.5% better), the exported"
        " weights being the best seen; 0: run to --minutes/--steps, exporting the latest.",
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (torchrun picks its own).")]


def _train(
    train: Any,
    *args: Any,
    threads: int | None,
    steps: int,
    minutes: float,
    checkpoint_minutes: float,
    validate_minutes: float,
    patience: int,
    **kwargs: Any,
) -> None:
    """Run one trainer's ``train(*args, schedule=..., command=..., log=..., **kwargs)``; print the weights' path."""
    import torch

    from reencoder_cli.train.loop import Schedule

    if threads:
        torch.set_num_threads(threads)
    with errors_handled():
        out = train(
            *args,
            schedule=Schedule(steps, minutes, checkpoint_minutes, validate_minutes, patience=patience),
            command=" ".join(["reencoder", *sys.argv[1:]]),
            log=log_line,
            **kwargs,
        )
    console.print(f"weights: {out}")


@train_app.command("autoencoder")
def train_autoencoder(
    data: Annotated[str, typer.Option(help="Cache built by `reencoder data build`.")] = "data/cache",
    run: Annotated[str, typer.Option(help="Run folder: checkpoint, log.csv, loss.png, exported weights.")] = "runs/ae",
    device: DeviceOpt = "auto",
    minutes: TrainMinutes = float("inf"),
    steps: TrainSteps = 1_000_000,
    threads: TrainThreads = None,
    checkpoint_minutes: CheckpointMinutes = 10.0,
    validate_minutes: ValidateMinutes = 30.0,
    patience: Patience = 0,
    gan_start: Annotated[int, typer.Option(help="Step at which the adversarial phase starts.")] = 8000,
    batch: Annotated[int, typer.Option(help="Crops per step (per process under torchrun).")] = 16,
    lr: Annotated[
        Optional[float], typer.Option(help="Base learning rate (default: the recipe's); warm-up, then slow decay.")
    ] = None,
    init: Annotated[
        Optional[str], typer.Option(help="Start a new run from these autoencoder weights (a name or a path).")
    ] = None,
    decoder_only: Annotated[
        bool, typer.Option(help="Freeze the encoder (with --init: the latents and the modules on them stay valid).")
    ] = False,
    latent_noise: Annotated[
        Optional[float],
        typer.Option(
            help="Train the decoder to ignore latent noise up to this x each frame's RMS, on half the items "
            "(default: none; with --decoder-only it keeps the latent space)."
        ),
    ] = None,
) -> None:
    """Train (or resume) the autoencoder; exports RUN/autoencoder.safetensors at every checkpoint."""
    from dataclasses import replace
    from pathlib import Path

    from reencoder_cli.train.autoencoder import AETrainConfig, train

    config = AETrainConfig(gan_start=gan_start, batch=batch, decoder_only=decoder_only)
    if lr is not None:
        config = replace(config, lr=lr)
    if latent_noise is not None:
        config = replace(config, noise_max=latent_noise, noise_prob=0.5)
    _train(
        train,
        Path(data),
        Path(run),
        device=device,
        config=config,
        init=init,
        threads=threads,
        steps=steps,
        minutes=minutes,
        checkpoint_minutes=checkpoint_minutes,
        validate_minutes=validate_minutes,
        patience=patience,
    )


@train_app.command("latents")
def train_latents(
    data: Annotated[str, typer.Option(help="Music cache.")] = "data/cache",
    out: Annotated[str, typer.Option(help="Latent cache folder.")] = "data/latents",
    autoencoder: Annotated[str, typer.Option(help="The frozen autoencoder.")] = "autoencoder",
    hours: Annotated[float, typer.Option(help="At most this many hours of training music (a fixed subset).")] = float(
        "inf"
    ),
    valid_hours: Annotated[Optional[float], typer.Option(help="Of validation music (default: --hours).")] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Encode the music cache once, for every input condition, into latent shards (resumable)."""
    from pathlib import Path

    from reencoder_cli.data import latents

    with errors_handled():
        summary = latents.build(
            Path(data),
            Path(out),
            autoencoder,
            log_line,
            device=device,
            hours=hours,
            valid_hours=valid_hours,
        )
    console.print(
        f"{summary['tracks']} tracks, {summary['hours']:.1f} h of audio, {summary['megabytes']:.0f} MB, "
        f"{summary['seconds'] / 60:.1f} min"
    )


@train_app.command("module")
def train_module(
    kind: Annotated[str, typer.Argument(help="bwe, flow or stereo.")],
    size: Annotated[str, typer.Option(help="S or M.")] = "S",
    l1_only: Annotated[bool, typer.Option("--l1-only", help="bwe: no latent discriminator.")] = False,
    latents: Annotated[str, typer.Option(help="Latent cache (`reencoder train latents`).")] = "data/latents",
    run: Annotated[Optional[str], typer.Option(help="Run folder (default runs/<kind>-<size>).")] = None,
    autoencoder: Annotated[str, typer.Option(help="The autoencoder the cache was made with.")] = "autoencoder",
    disc_channels: Annotated[
        Optional[int], typer.Option(help="bwe: latent discriminator width (default 64; paper: 256).")
    ] = None,
    disc_start: Annotated[
        Optional[int], typer.Option(help="bwe: step at which the discriminator joins (default 1000).")
    ] = None,
    warmup: Annotated[int, typer.Option(help="Steps of linear learning-rate warm-up (each optimiser).")] = 500,
    device: DeviceOpt = "auto",
    minutes: TrainMinutes = float("inf"),
    steps: TrainSteps = 1_000_000,
    threads: TrainThreads = None,
    checkpoint_minutes: CheckpointMinutes = 5.0,
    validate_minutes: ValidateMinutes = 10.0,
    patience: Patience = 0,
) -> None:
    """Train (or resume) a latent module on cached latents; exports RUN/<kind>.safetensors."""
    from dataclasses import replace
    from pathlib import Path

    from reencoder_cli.models.bwe import BWE_SIZES
    from reencoder_cli.models.flow import FlowConfig
    from reencoder_cli.models.stereo import StereoConfig
    from reencoder_cli.train.latent import LatentTrainConfig, train

    if kind not in ("bwe", "flow", "stereo") or size not in BWE_SIZES:
        raise fail(f"unknown module {kind!r} size {size!r}; kinds: bwe, flow, stereo; sizes: S, M", 2)
    if kind != "bwe" and (l1_only or disc_channels is not None or disc_start is not None):
        raise fail(f"--l1-only, --disc-channels and --disc-start apply to bwe; a {kind} module has no discriminator", 2)
    sized = BWE_SIZES[size]
    flow = FlowConfig(dim=sized.dim, blocks=sized.blocks, hidden=sized.hidden)
    stereo = StereoConfig(dim=sized.dim, blocks=sized.blocks, hidden=sized.hidden)
    model_config = {"bwe": sized, "flow": flow, "stereo": stereo}[kind]
    disc = {"disc_channels": disc_channels, "disc_start": disc_start}
    config = LatentTrainConfig(warmup=warmup, **{k: v for k, v in disc.items() if v is not None})
    if l1_only:
        config = replace(config, adv_weight=0.0, fm_weight=0.0)
    run_dir = Path(run or f"runs/{kind}-{size.lower()}{'-l1' if l1_only else ''}")
    _train(
        train,
        kind,
        Path(latents),
        run_dir,
        autoencoder,
        model_config=model_config,
        config=config,
        device=device,
        threads=threads,
        steps=steps,
        minutes=minutes,
        checkpoint_minutes=checkpoint_minutes,
        validate_minutes=validate_minutes,
        patience=patience,
    )


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
    patience: Patience = 0,
) -> None:
    """Train (or resume) the raw-audio bandwidth-extension baseline (spectral U-Net)."""
    from pathlib import Path

    from reencoder_cli.train.raw import train

    _train(
        train,
        Path(data),
        Path(run),
        device=device,
        threads=threads,
        steps=steps,
        minutes=minutes,
        checkpoint_minutes=checkpoint_minutes,
        validate_minutes=validate_minutes,
        patience=patience,
    )
