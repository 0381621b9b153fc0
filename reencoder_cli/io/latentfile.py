"""Latents in memory and on disk (``.latent``: safetensors with JSON metadata).

A ``.latent`` file lets ``encode``, ops and ``decode`` run in separate processes and
still be one pipeline: it carries z and everything needed to finish the job (which
autoencoder made it, the original length and rate, the channel layout, the ops applied, and
the input's sample type and text tags, which the decoded output inherits).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reencoder_cli.constants import SAMPLE_RATE
from reencoder_cli.errors import LatentFileError
from reencoder_cli.io.audio import SourceMeta
from reencoder_cli.io.tempfiles import hidden_temporary, publish

if TYPE_CHECKING:  # torch stays unimported until a latent is really made or read (``reencoder probe``)
    from torch import Tensor

    from reencoder_cli.io.modelfile import AEId

FORMAT = "reencoder-latent/1"
SUFFIX = ".latent"
LEGACY_HOP = 1024  # files written before the hop was recorded were made by autoencoders of this hop
RATES = (1000, 768000)  # the sample rates a file may name, in Hz


@dataclass(frozen=True)
class Latent:
    """A latent and its provenance.

    Attributes:
        z: (C, D, F) one latent per audio channel (C = 1 mono, 2 left/right).
        length: samples of the audio at ``sample_rate`` (decode trims to it).
        source_rate: the rate of the original input before resampling to ``sample_rate``.
        autoencoder: the autoencoder that made z.
        sample_rate: the autoencoder's rate.
        ops: the ops applied so far, as given (``name:k=v,...``).
        meta: the original input's sample type and text tags (the output inherits them).
        hop: samples per latent frame at ``sample_rate`` (the autoencoder's): F = ceil(length / hop).
    """

    z: Tensor
    length: int
    source_rate: int
    autoencoder: AEId
    sample_rate: int = SAMPLE_RATE
    ops: tuple[str, ...] = ()
    meta: SourceMeta = SourceMeta()
    hop: int = LEGACY_HOP

    @property
    def channels(self) -> int:
        """Audio channels C."""
        return int(self.z.shape[0])

    def with_z(self, z: Tensor, op: str | None = None) -> Latent:
        """A copy with a new z (and ``op`` appended to the history)."""
        return replace(self, z=z, ops=self.ops + ((op,) if op else ()))


def save_latent(path: str | Path, latent: Latent, overwrite: bool = False) -> None:
    """Write ``latent`` to ``path`` atomically (float32 z, JSON metadata), as ``tempfiles.publish`` does.

    Raises:
        OutputError: ``path`` exists (without ``overwrite``) or cannot be written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta = {
        "format": FORMAT,
        "autoencoder": latent.autoencoder.to_json(),
        "sample_rate": str(latent.sample_rate),
        "length": str(latent.length),
        "hop": str(latent.hop),
        "source_rate": str(latent.source_rate),
        "channels": str(latent.channels),
        "layout": "mono" if latent.channels == 1 else "stereo",
        "ops": json.dumps(list(latent.ops)),
        "source_subtype": latent.meta.subtype or "",
        "source_tags": json.dumps(dict(latent.meta.tags)),
    }
    tmp = hidden_temporary(path.parent, path.name)
    try:
        save_file({"z": latent.z.detach().float().cpu().contiguous()}, tmp, metadata=meta)
        publish(tmp, str(path), overwrite)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_latent(path: str | Path) -> Latent:
    """Read a ``.latent`` file.

    Everything is checked against everything else before it is trusted: z is finite, its
    frame count matches the length and hop, its channels the channel count, the rates are
    rates.

    Raises:
        LatentFileError: not a latent file, or its metadata or tensor is malformed.
    """
    from safetensors import SafetensorError, safe_open

    from reencoder_cli.io.modelfile import AEId

    name = str(path)
    try:
        with safe_open(name, framework="pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != FORMAT:
                raise LatentFileError(f"{name}: not a reencoder latent file (format {meta.get('format')!r})")
            z = fh.get_tensor("z")
        latent = Latent(
            z=z,
            length=int(meta["length"]),
            source_rate=int(meta["source_rate"]),
            autoencoder=AEId.from_json(meta["autoencoder"]),
            sample_rate=int(meta["sample_rate"]),
            ops=tuple(json.loads(meta.get("ops", "[]"))),
            meta=SourceMeta(
                meta.get("source_subtype") or None, tuple(sorted(json.loads(meta.get("source_tags", "{}")).items()))
            ),
            hop=int(meta.get("hop", LEGACY_HOP)),
        )
        channels = int(meta.get("channels", z.shape[0] if z.ndim == 3 else 0))
    except LatentFileError:
        raise
    except FileNotFoundError:
        raise LatentFileError(f"{name}: no such file") from None
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise LatentFileError(f"{name}: not a readable latent file ({type(exc).__name__}: {exc})") from None
    if z.ndim != 3 or z.shape[0] not in (1, 2) or z.shape[0] != channels or min(z.shape) < 1:
        raise LatentFileError(f"{name}: malformed latent of shape {tuple(z.shape)} for {channels} channel(s)")
    if latent.hop < 1 or latent.length < 1 or math.ceil(latent.length / latent.hop) != z.shape[-1]:
        raise LatentFileError(
            f"{name}: its length ({latent.length} samples) does not fit its {z.shape[-1]} frames of {latent.hop}"
        )
    for key, rate in (("sample_rate", latent.sample_rate), ("source_rate", latent.source_rate)):
        if not RATES[0] <= rate <= RATES[1]:
            raise LatentFileError(f"{name}: {key} {rate} Hz is not a sample rate")
    import torch

    if not torch.isfinite(z).all():
        raise LatentFileError(f"{name}: contains NaN/Inf values")
    return latent
