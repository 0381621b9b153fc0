"""Contracts of ``reencoder_cli.io.modelfile`` (one file's round trip and metadata) and
``reencoder_cli.io.weights`` (resolution, manifest, loading, refusals)."""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch

import reencoder_cli
from reencoder_cli.errors import WeightsError
from reencoder_cli.io import modelfile as M
from reencoder_cli.io import weights as W


@dataclass(frozen=True)
class TinyConfig:
    dim: int = 8
    kernel: tuple[int, int] = (3, 5)
    dims: tuple[int, ...] = (2, 4)


class Tiny(torch.nn.Module):
    """lin: (B, F, dim) -> (B, F, dim); conv over F with ``kernel[0]`` taps."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lin = torch.nn.Linear(cfg.dim, cfg.dim)
        self.conv = torch.nn.Conv1d(cfg.dim, cfg.dim, cfg.kernel[0], padding=cfg.kernel[0] // 2)
        self.register_buffer("scale", torch.full((cfg.dim,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, dim, F) -> (B, dim, F)."""
        return self.conv(self.lin(x.transpose(1, 2)).transpose(1, 2)) * self.scale[:, None]


class TinyExtra(Tiny):
    """Tiny with one more parameter (a state dict that does not fit Tiny)."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__(cfg)
        self.extra = torch.nn.Parameter(torch.zeros(cfg.dim))


class Tied(torch.nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.a = torch.nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.b = torch.nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.b.weight = self.a.weight


FACTORIES = {"tiny": (TinyConfig, Tiny), "tied": (TinyConfig, Tied)}
AE = M.AEId("ae-music-v1", "ab" * 32)
AE2 = M.AEId("ae-music-v2", "cd" * 32)


@pytest.fixture(autouse=True)
def wdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv("REENCODER_WEIGHTS_DIR", str(d))
    return d


@pytest.fixture
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline Hugging Face setup on an empty temporary cache; any socket connect fails."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the test tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return cache


def make(seed: int = 0, cfg: TinyConfig = TinyConfig(), cls: type = Tiny) -> torch.nn.Module:
    torch.manual_seed(seed)
    return cls(cfg).eval()


def x_in(cfg: TinyConfig = TinyConfig()) -> torch.Tensor:
    return torch.randn(2, cfg.dim, 11, generator=torch.Generator().manual_seed(1))


def save(path: Path, model: torch.nn.Module | None = None, arch: str = "tiny", **kw: object) -> Path:
    model = model if model is not None else make()
    M.save_model(path, model, arch, TinyConfig(), **kw)  # type: ignore[arg-type]
    return path


# ---- round trips -----------------------------------------------------------------------


def test_round_trip_float32_identical_and_config_equal(tmp_path: Path) -> None:
    cfg = TinyConfig(dim=6, kernel=(5, 7), dims=(1, 2, 3))
    m = make(cfg=cfg)
    p = tmp_path / "m.safetensors"
    sha = M.save_model(p, m, "tiny", cfg, train={"steps": 10, "command": "train tiny"})
    assert sha == M.sha256_file(p)
    loaded, meta = W.load_model(str(p), FACTORIES)
    assert torch.equal(loaded(x_in(cfg)), m(x_in(cfg)))
    assert loaded.cfg == cfg and isinstance(loaded.cfg.kernel, tuple) and hash(loaded.cfg) == hash(cfg)
    assert not loaded.training
    assert meta.arch == "tiny" and meta.train == {"steps": 10, "command": "train tiny"}
    assert meta.sha256 == sha and meta.size_bytes == p.stat().st_size and meta.dtype == "float32"
    assert meta.autoencoder is None


def test_round_trip_float16_within_tolerance_and_loaded_as_float32(tmp_path: Path) -> None:
    m = make()
    p = tmp_path / "h.safetensors"
    M.save_model(p, m, "tiny", TinyConfig(), dtype=torch.float16)
    assert M.read_meta(p).dtype == "float16"
    loaded, _ = W.load_model(str(p), FACTORIES)
    assert all(t.dtype == torch.float32 for t in loaded.state_dict().values())
    y, y0 = loaded(x_in()), m(x_in())
    assert not torch.equal(y, y0)  # really went through float16
    torch.testing.assert_close(y, y0, atol=5e-3, rtol=5e-3)


def test_float16_save_is_smaller(tmp_path: Path) -> None:
    m = make(cfg=TinyConfig(dim=64))
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    M.save_model(a, m, "tiny", TinyConfig(dim=64))
    M.save_model(b, m, "tiny", TinyConfig(dim=64), dtype=torch.float16)
    assert b.stat().st_size < 0.6 * a.stat().st_size


def test_tied_weights_are_saved_and_reloaded(tmp_path: Path) -> None:
    m = make(cls=Tied)
    p = save(tmp_path / "t.safetensors", m, "tied")
    loaded, _ = W.load_model(str(p), FACTORIES)
    assert torch.equal(loaded.a.weight, m.a.weight) and loaded.a.weight is loaded.b.weight


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    p = save(tmp_path / "sub" / "m.safetensors")
    assert sorted(x.name for x in p.parent.iterdir()) == ["m.safetensors"]


def test_save_refuses_non_dataclass_config(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="dataclass"):
        M.save_model(tmp_path / "x.safetensors", make(), "tiny", {"dim": 8})


def test_metadata_is_plain_strings(tmp_path: Path) -> None:
    from safetensors import safe_open

    p = save(tmp_path / "m.safetensors", autoencoder=AE)
    with safe_open(str(p), framework="pt") as f:
        md = f.metadata()
    assert md["format"] == "reencoder/1" and md["arch"] == "tiny" and md["train"] == "{}"
    assert json.loads(md["config"]) == {"dim": 8, "kernel": [3, 5], "dims": [2, 4]}
    assert M.AEId.from_json(md["autoencoder"]) == AE


def test_aeid_json_round_trip() -> None:
    assert M.AEId.from_json(AE.to_json()) == AE
    assert M.AEId.from_json(json.loads(AE.to_json())) == AE
    with pytest.raises(WeightsError):
        M.AEId.from_json("{}")


# ---- resolution ------------------------------------------------------------------------


def test_weights_dir_follows_env(wdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert W.weights_dir() == wdir
    monkeypatch.delenv("REENCODER_WEIGHTS_DIR")
    assert W.weights_dir() == Path(__file__).resolve().parents[1] / "weights"  # the repository's


def test_resolve_local_path_beats_weights_dir(tmp_path: Path, wdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(wdir / "m.safetensors")
    here = tmp_path / "cwd"
    here.mkdir()
    save(here / "m.safetensors", make(1))
    monkeypatch.chdir(here)
    assert W.resolve("m.safetensors").resolve() == (here / "m.safetensors").resolve()
    monkeypatch.chdir(tmp_path)
    assert W.resolve("m.safetensors") == wdir / "m.safetensors"


def test_resolve_name_without_suffix(wdir: Path) -> None:
    save(wdir / "bwe_v1.safetensors")
    assert W.resolve("bwe_v1") == wdir / "bwe_v1.safetensors"


def test_resolve_unknown_name(wdir: Path) -> None:
    with pytest.raises(WeightsError, match="'nope' not found.*hf://"):
        W.resolve("nope")


def test_hf_offline_uncached_refused_without_network(no_network: Path) -> None:
    with pytest.raises(WeightsError, match="offline"):
        W.resolve("hf://someone/some-repo/bwe/v1.safetensors", offline=True)
    with pytest.raises(WeightsError, match="offline"):  # default comes from HF_HUB_OFFLINE=1
        W.resolve("hf://someone/some-repo/v1.safetensors")


def test_hf_offline_cached_file_is_found(no_network: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = no_network / "models--someone--some-repo"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    p = save(repo / "snapshots" / commit / "bwe" / "v1.safetensors")
    got = W.resolve("hf://someone/some-repo/bwe/v1.safetensors", offline=True)
    assert got.resolve() == p.resolve()
    model, _ = W.load_model("hf://someone/some-repo/bwe/v1.safetensors", FACTORIES, offline=True)
    assert torch.equal(model(x_in()), make()(x_in()))  # outside weights/: no manifest needed


def test_hf_bad_address() -> None:
    with pytest.raises(WeightsError, match="hf://owner/repo"):
        W.resolve("hf://only-owner/file.safetensors", offline=True)


# ---- manifest --------------------------------------------------------------------------


def test_manifest_update_then_verify(wdir: Path) -> None:
    save(wdir / "a.safetensors", autoencoder=AE, train={"steps": 3})
    save(wdir / "b.safetensors", make(1))
    man = W.update_manifest()
    text = (wdir / "MANIFEST.json").read_text()
    assert text.endswith("}\n") and json.loads(text) == man
    assert sorted(man["files"]) == ["a.safetensors", "b.safetensors"]
    a = man["files"]["a.safetensors"]
    assert a["sha256"] == M.sha256_file(wdir / "a.safetensors")
    assert a["size"] == (wdir / "a.safetensors").stat().st_size
    assert a["arch"] == "tiny" and a["train"] == {"steps": 3}
    assert a["autoencoder"] == {"id": AE.id, "sha256": AE.sha256, "latent_space": ""}
    assert W.verify(wdir / "a.safetensors").arch == "tiny"
    model, _ = W.load_model("a", FACTORIES)
    assert torch.equal(model(x_in()), make()(x_in()))


def test_flipped_byte_is_refused(wdir: Path) -> None:
    p = save(wdir / "a.safetensors")
    W.update_manifest()
    W.verify(p)  # fills the in-process cache
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x01  # inside tensor data: the header still parses
    p.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        W.verify(p)
    with pytest.raises(WeightsError, match="checksum"):
        W.load_model("a", FACTORIES)


def test_size_change_is_refused(wdir: Path) -> None:
    p = save(wdir / "a.safetensors")
    W.update_manifest()
    with open(p, "ab") as f:
        f.write(b"\0")
    with pytest.raises(WeightsError, match="size mismatch"):
        W.verify(p)


def test_unlisted_file_in_weights_dir_is_refused(wdir: Path) -> None:
    save(wdir / "a.safetensors")
    W.update_manifest()
    save(wdir / "b.safetensors")
    with pytest.raises(WeightsError, match="not listed in .*MANIFEST.json"):
        W.load_model("b", FACTORIES)


def test_missing_manifest_is_refused(wdir: Path) -> None:
    save(wdir / "a.safetensors")
    with pytest.raises(WeightsError, match="MANIFEST.json is missing"):
        W.verify(wdir / "a.safetensors")


def test_file_outside_weights_dir_needs_no_manifest(tmp_path: Path) -> None:
    p = save(tmp_path / "mine.safetensors")
    assert W.verify(p).arch == "tiny"


def test_sha256_is_cached_per_file_version(wdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = save(wdir / "a.safetensors")
    W.update_manifest()
    calls: list[object] = []
    real = M.sha256_file
    monkeypatch.setattr(M, "sha256_file", lambda path: calls.append(path) or real(path))
    W.verify(p)
    assert len(calls) == 1  # changed under 2 s ago: never trusted from the cache
    monkeypatch.setattr(M.time, "time_ns", lambda: os.stat(p).st_ctime_ns + 3_000_000_000)
    for _ in range(3):
        W.load_model("a", FACTORIES)
    assert len(calls) == 2  # an old enough file is hashed once, then cached
    save(p, make(2))  # a new file (new inode, mtime, ctime) is hashed again
    monkeypatch.setattr(M.time, "time_ns", lambda: os.stat(p).st_ctime_ns + 3_000_000_000)
    with pytest.raises(WeightsError, match="checksum"):
        W.verify(p)
    assert len(calls) == 3


# ---- refusals --------------------------------------------------------------------------


def test_arch_mismatch_refused(tmp_path: Path) -> None:
    p = save(tmp_path / "x.safetensors")
    with pytest.raises(WeightsError, match="x.safetensors holds a 'tiny' model, expected 'stereo'"):
        W.load_model(str(p), FACTORIES, expect_arch="stereo")
    W.load_model(str(p), FACTORIES, expect_arch=("stereo", "tiny"))


def test_unknown_arch_refused(tmp_path: Path) -> None:
    p = save(tmp_path / "x.safetensors", arch="flow")
    with pytest.raises(WeightsError, match="'flow' model, which this version cannot build"):
        W.load_model(str(p), FACTORIES)


def test_autoencoder_mismatch_refused_and_match_accepted(tmp_path: Path) -> None:
    p = save(tmp_path / "x.safetensors", autoencoder=AE)  # an older record: no latent space, the file decides
    with pytest.raises(WeightsError, match="latents of autoencoder ae-music-v1 .*ae-music-v2 .* is loaded"):
        W.load_model(str(p), FACTORIES, autoencoder=AE2)
    _, meta = W.load_model(str(p), FACTORIES, autoencoder=replace(AE, latent_space="ef" * 32))
    assert meta.autoencoder == AE
    spaced = save(tmp_path / "spaced.safetensors", autoencoder=replace(AE, latent_space="ef" * 32))
    W.load_model(str(spaced), FACTORIES, autoencoder=replace(AE2, latent_space="ef" * 32))  # a decoder fine-tune
    with pytest.raises(WeightsError, match="another latent space"):
        W.load_model(str(spaced), FACTORIES, autoencoder=replace(AE, latent_space="01" * 32))
    bare = save(tmp_path / "bare.safetensors")
    with pytest.raises(WeightsError, match="does not record its autoencoder"):
        W.load_model(str(bare), FACTORIES, autoencoder=AE)
    W.load_model(str(bare), FACTORIES)  # no AE given: nothing to check


def test_missing_key_refused(tmp_path: Path) -> None:
    p = save(tmp_path / "x.safetensors")
    factories = {"tiny": (TinyConfig, TinyExtra)}
    with pytest.raises(WeightsError, match="missing keys 'extra'"):
        W.load_model(str(p), factories)


def test_unexpected_key_refused(tmp_path: Path) -> None:
    p = save(tmp_path / "x.safetensors", make(cls=TinyExtra))
    with pytest.raises(WeightsError, match="unexpected keys 'extra'"):
        W.load_model(str(p), FACTORIES)


def test_shape_mismatch_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.safetensors"
    M.save_model(p, make(cfg=TinyConfig(dim=4)), "tiny", TinyConfig(dim=8))
    with pytest.raises(WeightsError, match="has shape"):
        W.load_model(str(p), FACTORIES)


def test_unknown_config_field_refused(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Other:
        dim: int = 8
        depth: int = 2

    p = tmp_path / "x.safetensors"
    M.save_model(p, make(), "tiny", Other())
    with pytest.raises(WeightsError, match="'depth' unknown to TinyConfig"):
        W.load_model(str(p), FACTORIES)


def test_non_safetensors_file_refused(tmp_path: Path) -> None:
    p = tmp_path / "junk.safetensors"
    p.write_bytes(os.urandom(64))
    with pytest.raises(WeightsError, match="not a safetensors file"):
        M.read_meta(p)
    with pytest.raises(WeightsError, match="not a safetensors file"):
        W.load_model(str(p), FACTORIES)


def test_plain_safetensors_without_metadata_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    p = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(WeightsError, match="'format'"):
        M.read_meta(p)


def test_nothing_in_the_package_unpickles() -> None:
    """Weights, checkpoints and latents are safetensors: no call anywhere may run a pickle."""
    package = Path(reencoder_cli.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) > 30
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|import pickle|np\.load\(.*allow_pickle=True")
    found = [
        f"{p.relative_to(package)}:{n}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not found
