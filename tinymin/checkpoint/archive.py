"""Checkpoint files: one ``.npz`` file (no pickle) holding weights, optimizer state and config.

Layout of the archive (every entry a numpy array, so ``allow_pickle=False`` loads it):

* ``meta/format_version``, ``meta/epoch``, ``meta/config`` (JSON text)
* ``model/<state_dict key>`` (e.g. ``model/0.weight``)
* ``optimizer/...`` and ``scheduler/...`` from
  :func:`tinymin.checkpoint.state_codec.flatten_state_dict`
* ``extra/<name>``: anything else a caller stores (the random generators' states)

Writes are atomic (:mod:`tinymin.checkpoint.atomic`): a crash mid-write never leaves a
truncated checkpoint behind.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from tinymin.checkpoint.atomic import write_npz_atomic
from tinymin.checkpoint.state_codec import flatten_state_dict, unflatten_state_dict

FORMAT_VERSION = 1
NPY_MAGIC = b"\x93NUMPY"  # how a single-array .npy file begins (an .npz begins with "PK")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or not a tinymin checkpoint."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    config: dict[str, Any]
    epoch: int
    model_state: dict[str, np.ndarray]
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def save_checkpoint(path: str | os.PathLike, model, config: dict[str, Any], epoch: int = 0,
                    optimizer=None, scheduler=None, extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write model weights, optimizer/scheduler state and ``config`` atomically to ``path``."""
    arrays: dict[str, np.ndarray] = {
        "meta/format_version": np.array(FORMAT_VERSION),
        "meta/epoch": np.array(int(epoch)),
        "meta/config": np.array(json.dumps(config, sort_keys=True)),
    }
    arrays.update({f"model/{k}": v for k, v in model.state_dict().items()})
    if optimizer is not None:
        arrays.update(flatten_state_dict(optimizer.state_dict(), prefix="optimizer/"))
    if scheduler is not None:
        arrays.update(flatten_state_dict(scheduler.state_dict(), prefix="scheduler/"))
    for key, value in (extra or {}).items():
        arrays[f"extra/{key}"] = np.asarray(value)
    return write_npz_atomic(path, arrays)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        Naming the path and the reason: missing, not an npz archive, truncated, an
        entry claiming more data than it holds, missing or malformed metadata (the
        epoch a non-negative integer, the config a JSON object), unknown format version.
    """
    path = Path(path)
    return _parse_checkpoint(path, read_npz(path))


def read_npz(source: str | os.PathLike | BinaryIO, what: str = "checkpoint") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read without pickle: each entry's ``.npy`` header,
    then exactly the bytes it announces, counted as they are read (a header, and the
    zip's directory, may claim terabytes: that is refused here rather than met with a
    ``MemoryError``), and nothing after them.

    Parameters
    ----------
    source : path or binary file object
        The file, or a file object opened for reading bytes (``open(p, "rb")``,
        ``io.BytesIO``), read from where it stands to its end.
    what : str
        What the file is, for the messages ("checkpoint file not found"; the data
        loaders read their ``.npz`` files here too).

    Raises
    ------
    CheckpointError
        If the file is missing, is not an npz archive or holds a malformed entry.
    TypeError
        If ``source`` is a file object that gives text, not bytes.
    """
    path, stream = _open_source(source, what)
    with stream:
        start = stream.read(len(NPY_MAGIC))
        stream.seek(0)
        if start == NPY_MAGIC:
            raise CheckpointError(f"{path}: a single .npy array, not an .npz {what} file")
        if not start.startswith(b"PK"):  # else numpy suggests unpickling it
            raise CheckpointError(f"{path}: not a readable .npz {what} file (not a zip archive)")
        try:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(0)
            with zipfile.ZipFile(stream) as archive:
                _check_unique_names(path, archive)
                return dict(_read_entry(path, archive, info, size) for info in archive.infolist())
        except CheckpointError:
            raise
        # zlib / lzma: a damaged compressed entry; NotImplementedError: an unsupported
        # compression method; RuntimeError: zipfile's "encrypted, password required"
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, lzma.LZMAError,
                NotImplementedError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: not a readable .npz {what} file ({exc})") from None


def source_name(source: str | os.PathLike | BinaryIO | IO[bytes]) -> Path:
    """How messages name ``source``: its path, a file object's ``name``, or
    ``<BytesIO>`` (the type) for an object without one."""
    if hasattr(source, "read") or hasattr(source, "write"):
        name = getattr(source, "name", None)
        return Path(name) if isinstance(name, (str, os.PathLike)) else Path(
            f"<{type(source).__name__}>")
    return Path(source)


def check_binary_file(f: Any, mode: str) -> None:
    """Raise TypeError naming ``f`` if it is a file object opened in text mode: an
    ``.npz`` file is bytes (``mode``, ``'rb'`` or ``'wb'``, is what to open it with)."""
    if isinstance(f, io.TextIOBase):
        raise TypeError(f"{source_name(f)}: the file object is open in text mode; open it "
                        f"with {mode!r}")


def _open_source(source: str | os.PathLike | BinaryIO, what: str) -> tuple[Path, BinaryIO]:
    """The name to quote in messages and a seekable stream of the file's bytes.

    A file object is read whole into memory (torch.load reads streams too), so an
    unseekable pipe works and the caller's object is never closed; its ``name``, where
    it has one, is what the messages quote.
    """
    path = source_name(source)
    if hasattr(source, "read"):
        check_binary_file(source, "rb")
        try:
            data = source.read()
        except io.UnsupportedOperation:
            raise TypeError(f"{path}: the file object is not open for reading; open it with "
                            "'rb'") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{path}: the file object gave {type(data).__name__}, not bytes; "
                            "open the file in binary mode ('rb')")
        return path, io.BytesIO(bytes(data))
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a {what} file")
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} file not found")
    try:
        return path, path.open("rb")
    except OSError as exc:  # e.g. no permission to read it
        raise CheckpointError(f"{path}: cannot read the {what} file ({exc.strerror})") from None


def _check_unique_names(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse an archive that holds one name twice: which copy numpy reads is an accident
    of the zip's layout (np.savez never writes one twice)."""
    seen: set[str] = set()
    for info in archive.infolist():
        if info.filename in seen:
            name = info.filename.removesuffix(".npy")
            raise CheckpointError(f"{path}: entry {name!r} appears twice in the archive")
        seen.add(info.filename)


def _read_entry(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                archive_size: int) -> tuple[str, np.ndarray]:
    """One entry's name (without ``.npy``) and array, read once and checked on the way:
    its header, no object dtype (a pickle), exactly the bytes the header announces
    (``archive_size``: the whole file's bytes, which bound what an entry can hold)."""
    name = info.filename.removesuffix(".npy")
    if not info.filename.endswith(".npy"):
        raise CheckpointError(f"{path}: entry {info.filename!r} is not an .npy array")
    with archive.open(info) as entry:
        try:
            version = np.lib.format.read_magic(entry)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(entry)
        except ValueError as exc:
            raise CheckpointError(f"{path}: entry {name!r} has no valid .npy header ({exc})") from None
        if dtype.hasobject:  # np.load would refuse it too, without naming it
            raise CheckpointError(f"{path}: entry {name!r} is an object array (a pickle); "
                                  "tinymin never unpickles")
        claimed = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        data, held = _read_claimed(entry, claimed, _most_bytes(info, archive_size))
    if held != claimed:
        raise CheckpointError(
            f"{path}: entry {name!r} claims shape {shape} of {dtype} ({claimed:,} bytes) but "
            f"holds {f'{held:,} bytes' if held < claimed else 'more'}"
        )
    return name, data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _most_bytes(info: zipfile.ZipInfo, archive_size: int) -> float:
    """The most an entry can hold, from bytes that really are in the file: what it stores
    (no more than the file's size, whatever the directory says), times deflate's largest
    ratio, 1032 to 1. Other methods (numpy never writes them) have no such bound."""
    stored = min(info.compress_size, archive_size)
    if info.compress_type == zipfile.ZIP_STORED:
        return stored
    return stored * 1032 + 1024 if info.compress_type == zipfile.ZIP_DEFLATED else math.inf


def _read_claimed(entry: IO[bytes], claimed: int, most: float) -> tuple[np.ndarray, int]:
    """The ``claimed`` bytes of ``entry`` as a uint8 array, and how many it held (up to
    ``claimed + 1``: one more means it holds too many).

    A claim the entry can hold (``most``) gets its array at once and is read into it,
    one copy as in ``np.load``; any other is read in 1 MiB steps that stop where the
    entry does, so a false claim costs only what the entry really holds.
    """
    if claimed <= most:
        data = np.empty(claimed, np.uint8)
        held = _read_into(entry, memoryview(data))
        return data, held + len(entry.read(1))
    data = read_at_most(entry, claimed + 1)
    return np.frombuffer(data, np.uint8), len(data)


def read_at_most(stream: IO[bytes], limit: int) -> bytearray:
    """Up to ``limit`` bytes of ``stream``, read in 1 MiB steps that stop where the
    stream does: a file that claims (or decompresses to) far more than it should costs
    no more memory than ``limit`` or what it really holds, whichever is less."""
    chunks, count = [], 0
    while count < limit:
        chunk = stream.read(min(2**20, limit - count))
        if not chunk:
            break
        chunks.append(chunk)
        count += len(chunk)
    return bytearray().join(chunks)  # one copy, into a buffer of the final size


def _read_into(entry: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``entry`` in 1 MiB reads; how many bytes came."""
    filled = 0
    while filled < len(buffer):
        chunk = entry.read(min(2**20, len(buffer) - filled))
        if not chunk:
            break
        buffer[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    return filled


def _parse_checkpoint(path: Path, arrays: dict[str, np.ndarray]) -> Checkpoint:
    for key in ("meta/format_version", "meta/epoch", "meta/config"):
        if key not in arrays:
            raise CheckpointError(f"{path}: not a tinymin checkpoint (no {key!r} entry)")
    version = _integer(path, arrays, "meta/format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version}, this tinymin reads {FORMAT_VERSION}")
    epoch = _integer(path, arrays, "meta/epoch")
    if epoch < 0:
        raise CheckpointError(f"{path}: 'meta/epoch' must be a non-negative integer, got {epoch}")
    config = _config(path, arrays["meta/config"])
    model_state = _section(arrays, "model/")
    if not model_state:
        raise CheckpointError(f"{path}: checkpoint holds no model weights")
    return Checkpoint(path, config, epoch, model_state,
                      optimizer_state=_state(path, arrays, "optimizer/"),
                      scheduler_state=_state(path, arrays, "scheduler/"),
                      extra=_section(arrays, "extra/"))


def _state(path: Path, arrays: dict[str, np.ndarray], prefix: str) -> dict[str, Any] | None:
    """The optimizer's or scheduler's state_dict stored under ``prefix``, if any."""
    if not _section(arrays, prefix):
        return None
    try:
        return unflatten_state_dict(arrays, prefix=prefix)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: malformed {prefix.rstrip('/')} state ({exc})") from None


def _integer(path: Path, arrays: dict[str, np.ndarray], key: str) -> int:
    value = arrays[key]
    if value.shape != () or not np.issubdtype(value.dtype, np.integer):
        raise CheckpointError(f"{path}: {key!r} must be one integer, got a {value.dtype} array "
                              f"of shape {value.shape}")
    return int(value)


def _config(path: Path, value: np.ndarray) -> dict[str, Any]:
    """``meta/config``: one string of JSON holding an object (``model`` one too)."""
    if value.shape != () or value.dtype.kind != "U":
        raise CheckpointError(f"{path}: 'meta/config' must be one string of JSON, got a "
                              f"{value.dtype} array of shape {value.shape}")
    try:
        config = json.loads(str(value))
    except (json.JSONDecodeError, RecursionError) as exc:  # Recursion: absurdly nested JSON
        raise CheckpointError(f"{path}: config is not valid JSON ({exc!r:.200})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: config must be a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("model", {}), dict):
        raise CheckpointError(f"{path}: config 'model' must be a JSON object")
    return config


def _section(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
