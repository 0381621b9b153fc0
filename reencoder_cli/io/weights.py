"""Where model weights are found and loaded: local paths, the weights folder with its manifest
of shipped files (each refused on a size or sha256 mismatch), ``hf://`` addresses; a model
rebuilt from its file's config and loaded (``modelfile`` reads and writes one file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from reencoder_cli.errors import DeviceError, WeightsError
from reencoder_cli.io.modelfile import SUFFIX, AEId, ModelMeta, build_config, cached_sha256, read_meta, short_sha, shown

MANIFEST = "MANIFEST.json"
MANIFEST_HINT = "run `make manifest`"
Factories = Mapping[str, tuple[type, Callable[[Any], torch.nn.Module]]]


def weights_dir() -> Path:
    """The weights folder: ``$REENCODER_WEIGHTS_DIR`` if set, else the repository's ``weights/``."""
    env = os.environ.get("REENCODER_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "weights"


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
        raise WeightsError(f"model {name!r} not found: not a file, not in {shown(d)}, not an hf:// address")
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


def shipped(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's entries of ``directory`` (default ``weights_dir()``): file name -> sha256,
    size, arch, autoencoder, train; empty when there is no manifest.

    Raises:
        WeightsError: the manifest is not what ``update_manifest`` writes.
    """
    path = (directory or weights_dir()) / MANIFEST
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return {}
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{shown(path)} is malformed ({e}); {MANIFEST_HINT}") from e
    if not isinstance(files, dict) or not all(isinstance(e, dict) for e in files.values()):
        raise WeightsError(f"{shown(path)} is malformed (its files are not a table of entries); {MANIFEST_HINT}")
    return files


def verify(path: Path) -> ModelMeta:
    """Parses a weights file; one inside ``weights_dir()`` must match its manifest entry."""
    path = Path(path)
    d = weights_dir()
    try:
        rel = path.resolve().relative_to(d.resolve()).as_posix()
    except ValueError:
        return read_meta(path)
    where, mpath = shown(path), shown(d / MANIFEST)
    if not (d / MANIFEST).exists():
        raise WeightsError(f"{where}: {mpath} is missing; {MANIFEST_HINT}")
    try:
        entry = shipped(d).get(rel)
    except WeightsError as e:
        raise WeightsError(f"{where}: {e}") from e
    if not isinstance(entry, dict):
        raise WeightsError(f"{where}: not listed in {mpath}; {MANIFEST_HINT} if the file is meant to ship")
    fix = f"the file is corrupt or was changed: restore it or {MANIFEST_HINT}"
    size = path.stat().st_size
    if entry.get("size") != size:
        raise WeightsError(f"{where}: size mismatch (expected {entry.get('size')} bytes, got {size}); {fix}")
    got = cached_sha256(path)
    if entry.get("sha256") != got:
        raise WeightsError(
            f"{where}: checksum mismatch (expected {short_sha(str(entry.get('sha256')))}, got {short_sha(got)}); {fix}"
        )
    return read_meta(path, sha256=got)


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
    model = factory(build_config(cls, meta.config, where))
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
