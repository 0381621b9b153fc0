"""Model weights: safetensors files with their config, checksums, name resolution.

A weights file holds ``model.state_dict()`` plus string metadata: ``format``, ``arch``,
``config`` (JSON of the frozen config dataclass), ``autoencoder`` (JSON ``AEId`` or ""),
``train`` (JSON) and ``dtype``. Files shipped in ``weights/`` are listed with size and
sha256 in ``weights/MANIFEST.json`` and refused on mismatch. Tensors are read only with
safetensors, never with an unsafe deserializer.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from reencoder_cli.errors import DeviceError, WeightsError

FORMAT = "reencoder/1"
SUFFIX = ".safetensors"
MANIFEST = "MANIFEST.json"
MANIFEST_HINT = "run `make manifest`"
Factories = Mapping[str, tuple[type, Callable[[Any], torch.nn.Module]]]


def weights_dir() -> Path:
    """The weights folder: ``$REENCODER_WEIGHTS_DIR`` if set, else the repository's ``weights/``."""
    env = os.environ.get("REENCODER_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "weights"


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
        space = f", latent space {_short(self.latent_space)}" if self.latent_space else ""
        return f"{self.id} (sha256 {_short(self.sha256)}{space})"


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


def _short(sha: str) -> str:
    return sha[:12] + "..."


def _show(path: Path) -> str:
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


def _cached_sha256(path: Path) -> str:
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
    return _cached_sha256(path)


def read_meta(path: str | Path, *, sha256: str | None = None) -> ModelMeta:
    """Reads a weights file's metadata from its header; refuses non-reencoder files.

    Args:
        path: The file.
        sha256: Its checksum when the caller already has it (else hashed here, cached).
    """
    path = Path(path)
    where = _show(path)
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
        sha256=sha256 or _cached_sha256(path),
        path=path,
        size_bytes=path.stat().st_size,
        dtype=meta.get("dtype", ""),
    )


def resolve(name: str, *, offline: bool | None = None) -> Path:
    """Finds a weights file: a local path, a name in ``weights_dir()``, or ``hf://owner/repo/file``.

    Args:
        name: Path, file name (``.safetensors`` optional) or ``hf://owner/repo[@rev]/path``.
        offline: Use only the local Hugging Face cache; default from ``HF_HUB_OFFLINE``.
    """
    if not name.startswith("hf://"):
        p = Path(name).expanduser()
        if p.is_file():
            return p
        d = weights_dir()
        for cand in (d / name, d / (name + SUFFIX)):
            if cand.is_file():
                return cand
        raise WeightsError(f"model {name!r} not found: not a file, not in {_show(d)}, not an hf:// address")
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    repo, _, filename = name[len("hf://") :].partition("/")
    repo2, _, filename = filename.partition("/")
    repo_id, _, revision = f"{repo}/{repo2}".partition("@")
    if not repo or not repo2 or not filename:
        raise WeightsError(f"{name}: an hf:// address is hf://owner/repo/path/in/repo{SUFFIX}")
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.utils import LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(
            hf_hub_download(repo_id=repo_id, filename=filename, revision=revision or None, local_files_only=offline)
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
        if offline or isinstance(e, OfflineModeIsEnabled) or getattr(constants, "HF_HUB_OFFLINE", False):
            raise WeightsError(
                f"{name}: not in the local cache and offline mode is on (HF_HUB_OFFLINE=1);"
                " run once online or pass a local path"
            ) from e
        raise WeightsError(
            f"{name}: the Hugging Face Hub cannot be reached and the file is not cached;"
            " check the network or pass a local path"
        ) from e
    except Exception as e:  # not found, gated, bad name, HTTP errors: all end the same way
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{name}: cannot download from the Hugging Face Hub ({msg});"
            " check the address and your access, or pass a local path"
        ) from e


def update_manifest(directory: Path | None = None) -> dict[str, Any]:
    """Rescans ``*.safetensors`` in ``directory`` (default ``weights_dir()``), rewrites its manifest.

    Returns:
        The manifest written: ``{"files": {name: {sha256, size, arch, autoencoder, train}}}``.
    """
    d = Path(directory) if directory is not None else weights_dir()
    files = {}
    for p in sorted(d.glob("*" + SUFFIX)):
        m = read_meta(p)
        files[p.name] = {
            "sha256": m.sha256,
            "size": m.size_bytes,
            "arch": m.arch,
            "autoencoder": dataclasses.asdict(m.autoencoder) if m.autoencoder else None,
            "train": m.train,
        }
    manifest = {"files": files}
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{MANIFEST}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    os.replace(tmp, d / MANIFEST)
    return manifest


def verify(path: Path) -> ModelMeta:
    """Parses a weights file; one inside ``weights_dir()`` must match its manifest entry."""
    path = Path(path)
    d = weights_dir()
    try:
        rel = path.resolve().relative_to(d.resolve()).as_posix()
    except ValueError:
        return read_meta(path)
    where, mpath = _show(path), _show(d / MANIFEST)
    try:
        entries = json.loads((d / MANIFEST).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError as e:
        raise WeightsError(f"{where}: {mpath} is missing; {MANIFEST_HINT}") from e
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{where}: {mpath} is malformed ({e}); {MANIFEST_HINT}") from e
    entry = entries.get(rel) if isinstance(entries, dict) else None
    if not isinstance(entry, dict):
        raise WeightsError(f"{where}: not listed in {mpath}; {MANIFEST_HINT} if the file is meant to ship")
    fix = f"the file is corrupt or was changed: restore it or {MANIFEST_HINT}"
    size = path.stat().st_size
    if entry.get("size") != size:
        raise WeightsError(f"{where}: size mismatch (expected {entry.get('size')} bytes, got {size}); {fix}")
    got = _cached_sha256(path)
    if entry.get("sha256") != got:
        raise WeightsError(
            f"{where}: checksum mismatch (expected {_short(str(entry.get('sha256')))}, got {_short(got)}); {fix}"
        )
    return read_meta(path, sha256=got)


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
        return _build_config(ann, value, f"{ann.__name__}")
    return value


def _build_config(cls: type, data: Mapping[str, Any], where: str) -> Any:
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


def _names(keys: Sequence[str], n: int = 3) -> str:
    return ", ".join(map(repr, keys[:n])) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def load_model(
    name: str,
    factories: Factories,
    *,
    expect_arch: str | Sequence[str] | None = None,
    autoencoder: AEId | None = None,
    offline: bool | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, ModelMeta]:
    """Resolves, verifies and loads a model in float32 and eval mode.

    Args:
        name: What ``resolve`` accepts.
        factories: ``arch -> (ConfigClass, factory)``; ``factory(config)`` builds the module.
        expect_arch: Refuse any other architecture(s).
        autoencoder: The loaded autoencoder; refuse files trained in another latent space.
        offline: Passed to ``resolve``.
        device: Where the model goes.

    Returns:
        ``(model, meta)``.
    """
    path = resolve(name, offline=offline)
    meta = verify(path)
    where = path.name
    expected = (expect_arch,) if isinstance(expect_arch, str) else tuple(expect_arch or ())
    if expected and meta.arch not in expected:
        want_arch = " or ".join(map(repr, expected))
        raise WeightsError(f"{where} holds a {meta.arch!r} model, expected {want_arch}")
    if meta.arch not in factories:
        raise WeightsError(
            f"{where} holds a {meta.arch!r} model, which this version cannot build"
            f" (known: {', '.join(map(repr, sorted(factories)))})"
        )
    ae = meta.autoencoder
    if autoencoder is not None and (ae is None or not ae.shares_latents(autoencoder)):
        trained = f"was trained on the latents of autoencoder {ae}" if ae else "does not record its autoencoder"
        raise WeightsError(
            f"{where} {trained} but {autoencoder}, another latent space, is loaded;"
            " retrain it or load the matching autoencoder"
        )
    cls, factory = factories[meta.arch]
    model = factory(_build_config(cls, meta.config, where))
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise WeightsError(f"{where}: cannot read tensors ({e})") from e
    want = model.state_dict()
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or unexpected:
        parts = ([f"missing keys {_names(missing)}"] if missing else []) + (
            [f"unexpected keys {_names(unexpected)}"] if unexpected else []
        )
        raise WeightsError(f"{where} does not fit a {meta.arch!r} model built from its config: {'; '.join(parts)}")
    for k, t in state.items():
        if tuple(t.shape) != tuple(want[k].shape):
            raise WeightsError(
                f"{where}: tensor {k!r} has shape {tuple(t.shape)} in the file but"
                f" {tuple(want[k].shape)} in a {meta.arch!r} model built from its config"
            )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{where}: cannot load state dict ({str(e).splitlines()[0]})") from e
    model = model.float().eval()
    try:
        model = model.to(torch.device(device))
    except (RuntimeError, AssertionError) as e:
        raise DeviceError(f"device {str(device)!r} is not available on this machine ({e})") from e
    return model, meta
