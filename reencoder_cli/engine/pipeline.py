"""Encode once, apply latent ops, decode once; long inputs in chunks with context.

Every model here is local in time, so each stage (encode, each op, decode) runs over
chunks of ``chunk_seconds`` with enough context frames on both sides that the result
equals one pass over the whole file; memory is bounded by the chunk, not the file (the
whole latent is small: 64 x 43 numbers per second and channel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from reencoder_cli.chunks import map_chunks
from reencoder_cli.dsp import post
from reencoder_cli.engine.ops import OPS, OpSpec, model_of, parse_op
from reencoder_cli.engine.poststeps import upmix_op
from reencoder_cli.engine.stream import StreamJob, decode_stream, encode_stream, resampled
from reencoder_cli.errors import DeviceError, LatentFileError, UsageError
from reencoder_cli.io import audio
from reencoder_cli.io.latentfile import SUFFIX, Latent, load_latent
from reencoder_cli.io.modelfile import AEId, ModelMeta
from reencoder_cli.io.weights import load_model
from reencoder_cli.models.autoencoder import Autoencoder
from reencoder_cli.models.registry import model_factories


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a device that exists here.

    Raises:
        DeviceError: CUDA asked for but absent, or N out of range, or an unknown name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name} requested but this machine has no usable CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


@dataclass(frozen=True)
class RunResult:
    """What ``Pipeline.run`` produced: audio at 44.1 kHz and what was done."""

    wav: np.ndarray  # (C, T)
    sample_rate: int
    ops: tuple[str, ...]
    post_steps: tuple[str, ...]
    notes: tuple[str, ...]


class Pipeline:
    """The autoencoder, the latent modules it carries, and chunked encode/apply/decode.

    Args:
        autoencoder: weights name or path of the autoencoder.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        chunk_seconds: audio per chunk in every stage.
        offline: refuse hub downloads (None: follow HF_HUB_OFFLINE).
    """

    def __init__(
        self,
        autoencoder: str = "autoencoder",
        device: str = "auto",
        chunk_seconds: float = 30.0,
        offline: bool | None = None,
    ) -> None:
        self.autoencoder_name = autoencoder
        self.device = resolve_device(device)
        self.chunk_seconds = chunk_seconds
        self.offline = offline
        self._modules: dict[str, tuple[nn.Module, ModelMeta]] = {}
        self._widths: dict[str, np.ndarray] = {}

    # -- models -------------------------------------------------------------------------

    @cached_property
    def _ae(self) -> tuple[Autoencoder, ModelMeta]:
        model, meta = load_model(
            self.autoencoder_name,
            model_factories(),
            expect_arch="autoencoder",
            offline=self.offline,
            device=self.device,
        )
        assert isinstance(model, Autoencoder)
        return model, meta

    @property
    def ae(self) -> Autoencoder:
        """The autoencoder (loaded on first use)."""
        return self._ae[0]

    @cached_property
    def ae_id(self) -> AEId:
        """Identity of the loaded autoencoder: file stem, sha256 and latent space."""
        model, meta = self._ae
        return AEId(Path(meta.path).stem, meta.sha256, model.latent_space())

    def module(self, name: str, archs: tuple[str, ...]) -> tuple[nn.Module, str]:
        """Load (once) a latent module trained on this autoencoder; returns it and its arch."""
        if name not in self._modules:
            self._modules[name] = load_model(
                name,
                model_factories(),
                expect_arch=archs,
                autoencoder=self.ae_id,
                offline=self.offline,
                device=self.device,
            )
        model, meta = self._modules[name]
        return model, meta.arch

    def model_shas(self, ops: Sequence[str] = ()) -> dict[str, str]:
        """sha256 by name of the autoencoder (once loaded) and of the loaded modules that
        ``ops`` (a latent's history, ``name:k=v,...``) ran."""
        named = {model_of(op) for op in ops}
        loaded = {self.autoencoder_name: self._ae[1].sha256} if "_ae" in self.__dict__ else {}
        return loaded | {name: meta.sha256 for name, (_, meta) in self._modules.items() if name in named}

    # -- chunked stages -------------------------------------------------------------------

    @property
    def chunk_frames(self) -> int:
        """Latent frames per chunk."""
        return max(1, round(self.chunk_seconds * self.ae.sample_rate / self.ae.hop))

    @torch.inference_mode()
    def map_frames(self, fn: Callable[..., Tensor], tensors: list[Tensor], context: int) -> Tensor:
        """``fn`` over chunks of ``chunk_frames`` frames with ``context`` frames each side (``chunks.map_chunks``).

        Args:
            fn: maps slices of ``tensors`` to outputs with the same number of frames.
            tensors: inputs (B, *, F).
            context: frames each side (the model's receptive field makes it exact).

        Returns:
            (B', *', F), equal to ``fn(*tensors)`` up to float rounding.
        """
        return map_chunks(fn, tensors, self.chunk_frames, context)

    def encode(self, wav: np.ndarray, sample_rate: int) -> Latent:
        """Resample to 44.1 kHz and encode each channel: wav (C, T) -> Latent with z (C, D, F)."""
        wav = np.asarray(wav, dtype=np.float32)
        return encode_stream(self, [wav], sample_rate, wav.shape[0])

    def encode_file(self, path: str) -> Latent:
        """Encode an audio file (streamed), or load a ``.latent`` made by this autoencoder."""
        if str(path).endswith(SUFFIX):
            latent = load_latent(path)
            self.check_latent(latent, str(path))
            return latent
        with audio.AudioReader(path) as reader:
            return encode_stream(self, reader.blocks(), reader.sample_rate, reader.channels, meta=reader.meta)

    def check_latent(self, latent: Latent, name: str) -> None:
        """Refuse a latent made in another latent space (by another encoder)."""
        if not latent.autoencoder.shares_latents(self.ae_id):
            raise LatentFileError(
                f"{name}: encoded by autoencoder {latent.autoencoder} but {self.ae_id}, another latent space, "
                "is loaded; decode it with --autoencoder set to the one that made it"
            )

    def decode(self, latent: Latent) -> np.ndarray:
        """Decode each channel and trim to the original length: -> (C, T) float32 at 44.1 kHz."""
        self.check_latent(latent, "latent")
        return np.concatenate(list(decode_stream(self, latent)), axis=1)

    def reference_width(self, specs: Sequence[OpSpec]) -> np.ndarray | None:
        """The width per band (``post.band_widths``) of the chain's upmix reference (``width_from``):
        an audio file measured as it is (streamed, at 44.1 kHz), a ``.latent`` as decoded. None without one."""
        upmix = upmix_op(specs)
        path = upmix.params["width_from"] if upmix is not None else None
        if not path:
            return None
        if path not in self._widths:
            rate = self.ae.sample_rate
            if str(path).endswith(SUFFIX):
                powers = post.band_powers(self.decode(self.encode_file(path)), rate)
            else:
                with audio.AudioReader(path) as reader:
                    if reader.channels != 2:
                        raise UsageError(f"upmix: width_from {path} is mono; it must be a stereo file")
                    blocks = resampled(reader.blocks(), reader.sample_rate, rate, 2)
                    powers = sum((post.band_powers(block, rate) for block in blocks if block.shape[1]), np.zeros(()))
            self._widths[path] = post.band_widths(powers)
        return self._widths[path]

    def apply(self, latent: Latent, ops: Sequence[OpSpec | str], seed: int = 0) -> Latent:
        """Apply ops in order to a latent."""
        for op in ops:
            spec = parse_op(op) if isinstance(op, str) else op
            latent = OPS[spec.name].apply(latent, spec.params, self, seed)
        return latent

    # -- the whole job --------------------------------------------------------------------

    def run(
        self,
        wav: np.ndarray,
        sample_rate: int,
        ops: Sequence[OpSpec | str],
        *,
        seed: int = 0,
        keep_lowband: bool = True,
        keep_mid: bool = True,
    ) -> RunResult:
        """Resample, encode once, apply ``ops``, decode once, then the waveform post-steps.

        Args:
            wav: (C, T) input, C = 1 or 2.
            sample_rate: its rate.
            ops: specs or ``NAME[:k=v,...]`` strings.
            seed: default seed of random ops.
            keep_lowband: see ``poststeps.post_process``.
            keep_mid: see ``poststeps.post_process``.

        Returns:
            The output (C', T') at 44.1 kHz, T' = T resampled.
        """
        specs = [parse_op(op) if isinstance(op, str) else op for op in ops]
        if not specs:
            raise UsageError("no op given")
        wav = np.asarray(wav, dtype=np.float32)
        with StreamJob(self, specs, keep_lowband, keep_mid) as job:
            latent = self.apply(job.encode([wav], sample_rate, wav.shape[0]), job.specs, seed)
            out = np.concatenate(list(job.output(latent)), axis=1)
        return RunResult(out, self.ae.sample_rate, tuple(latent.ops), job.post_steps, tuple(job.notes))
