"""One model weights file: a safetensors file with its config, training record and checksum.

A weights file holds ``model.state_dict()`` plus string metadata: ``format``, ``arch``,
``config`` (JSON of the frozen config dataclass), ``autoencoder`` (JSON ``AEId`` or ""),
``train`` (JSON) and ``dtype``. Tensors are read only with safetensors, never with an
unsafe deserializer. Where files are found, the manifest of shipped ones and loading a
model are ``weights``'.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from reencoder_cli.errors import WeightsError

FORMAT = "reencoder/1"
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class AEId:
    """Identifies an autoencoder weights file: a readable id, the file's sha256 and its
    latent space (``Autoencoder.latent_space``; "" in records written before it existed)."""

    id: str
    sha256: str
    latent_space: str = ""

    def shares_latents(self, other: AEId) -> bool:
        """Whether latents of one decode with the other: the same latent space (the same
        file, for a record that names none)."""
        if self.latent_space and other.latent_space:
            return self.latent_space == other.latent_space
        return self.sha256 == other.sha256

    def to_json(self) -> str:
        """Returns ``{"id": ..., "latent_space": ..., "sha256": ...}`` as a JSON string."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> AEId:
        """Parses what ``to_json`` wrote (a JSON string or an already decoded dict)."""
        try:
            d = json.loads(text) if isinstance(text, str) else dict(text)
            return cls(id=str(d["id"]), sha256=str(d["sha256"]), latent_space=str(d.get("latent_space", "")))
        except (ValueError, TypeError, KeyError) as e:
            raise WeightsError(f"malformed autoencoder record {text!r}: {e}") from e

    def __str__(self) -> str:
        space = f", latent space {short_sha(self.latent_space)}" if self.latent_space else ""
        return f"{self.id} (sha256 {short_sha(self.sha256)}{space})"


@dataclass(frozen=True)
class ModelMeta:
    """What a weights file says about itself (read from its header, no tensors loaded)."""

    arch: str
    config: dict[str, Any]
    autoencoder: AEId | None
    train: dict[str, Any]
    sha256: str
    path: Path
    size_bytes: int
    dtype: str = ""


def short_sha(sha: str) -> str:
    return sha[:12] + "..."


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Returns the hex sha256 of a file, read in chunks of ``chunk`` bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_SHA_CACHE: dict[tuple[str, int, int, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """sha256 of ``path``, hashed once per (path, inode, mtime, ctime, size) in this process.

    A file changed in the last 2 s is rehashed every time: a second write within one
    timestamp tick would otherwise keep its stale hash (git's "racy clean" problem).
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    if key in _SHA_CACHE:
        return _SHA_CACHE[key]
    sha = sha256_file(path)
    if time.time_ns() - st.st_ctime_ns > 2_000_000_000:
        _SHA_CACHE[key] = sha
    return sha


def _to_save(state: Mapping[str, Any], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors, floating ones cast to ``dtype``; shared storage cloned."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"state_dict entry {k!r} is a {type(v).__name__}, not a tensor")
        t = v.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous()
        st = t.untyped_storage()
        if st.data_ptr() in seen or st.nbytes() != t.numel() * t.element_size():
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def save_model(
    path: str | Path,
    model: torch.nn.Module,
    arch: str,
    config: Any,
    *,
    autoencoder: AEId | None = None,
    train: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> str:
    """Writes ``model.state_dict()`` and its metadata to a safetensors file, atomically.

    Args:
        path: Destination file (``.safetensors``); its folder is created if missing.
        model: The module to save.
        arch: Architecture name, the key of the factory that rebuilds it.
        config: The frozen dataclass instance the model was built from.
        autoencoder: The autoencoder a latent module was trained on.
        train: JSON-able training record (command, data, steps, commit).
        dtype: Cast floating tensors to this dtype (e.g. ``torch.float16`` for shipping).

    Returns:
        The sha256 (hex) of the written file.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    tensors = _to_save(model.state_dict(), dtype)
    floats = {str(t.dtype).removeprefix("torch.") for t in tensors.values() if t.is_floating_point()}
    meta = {
        "format": FORMAT,
        "arch": arch,
        "config": json.dumps(dataclasses.asdict(config), sort_keys=True),
        "autoencoder": autoencoder.to_json() if autoencoder is not None else "",
        "train": json.dumps(train or {}, sort_keys=True),
        "dtype": floats.pop() if len(floats) == 1 else ("mixed" if floats else "none"),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return cached_sha256(path)


def read_meta(path: str | Path, *, sha256: str | None = None) -> ModelMeta:
    """Reads a weights file's metadata from its header; refuses non-reencoder files.

    Args:
        path: The file.
        sha256: Its checksum when the caller already has it (else hashed here, cached).
    """
    path = Path(path)
    where = shown(path)
    if not path.is_file():
        raise WeightsError(f"{where}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error type for a bad header
        raise WeightsError(f"{where}: not a safetensors file ({e})") from e
    for key in ("format", "arch"):
        if not meta.get(key):
            raise WeightsError(f"{where}: safetensors file without {key!r} metadata; not a reencoder model")
    if meta["format"] != FORMAT:
        raise WeightsError(f"{where}: format {meta['format']!r} is not {FORMAT!r}; update reencoder")
    try:
        config, train = json.loads(meta.get("config") or "{}"), json.loads(meta.get("train") or "{}")
    except ValueError as e:
        raise WeightsError(f"{where}: metadata 'config' or 'train' is not valid JSON ({e})") from e
    if not isinstance(config, dict) or not isinstance(train, dict):
        raise WeightsError(f"{where}: metadata 'config' and 'train' must be JSON objects")
    ae = AEId.from_json(meta["autoencoder"]) if meta.get("autoencoder") else None
    return ModelMeta(
        arch=meta["arch"],
        config=config,
        autoencoder=ae,
        train=train,
        sha256=sha256 or cached_sha256(path),
        path=path,
        size_bytes=path.stat().st_size,
        dtype=meta.get("dtype", ""),
    )


def _coerce(value: Any, ann: Any) -> Any:
    """Turns JSON lists back into tuples (and dicts into dataclasses) where ``ann`` says so."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            if a is not type(None) and (c := _coerce(value, a)) is not value:
                return c
        return value
    if isinstance(value, list) and (ann is tuple or origin is tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if args and len(args) == len(value):
            return tuple(_coerce(v, a) for v, a in zip(value, args))
        return tuple(value)
    if isinstance(value, dict) and isinstance(ann, type) and dataclasses.is_dataclass(ann):
        return build_config(ann, value, f"{ann.__name__}")
    return value


def build_config(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """The config a file stores; a field it predates takes the value it had then (``cls.BEFORE``)."""
    data = {k: v for k, v in getattr(cls, "BEFORE", {}).items() if k not in data} | dict(data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise WeightsError(
            f"{where}: config has field(s) {', '.join(map(repr, unknown))} unknown to"
            f" {cls.__name__}; the file was written by another version of the model"
        )
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: keep values as stored
        hints = {}
    kwargs = {k: _coerce(v, hints.get(k, fields[k].type)) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{where}: config does not fit {cls.__name__} ({e})") from e
