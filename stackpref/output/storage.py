"""Files by location: a local path or a URI (`s3://`, `gs://`, `hf://`, any fsspec scheme).

A build on a cluster reads its inputs, writes its spill and its output where every worker can
reach them, so the stage functions never touch `open` or `pathlib` directly: they go through
these few calls, which resolve a location to a pyarrow filesystem (native for local, S3 and GCS;
fsspec's, wrapped, for the rest, such as the Hub's `hf://`).
"""

import hashlib
import os
import posixpath
from functools import lru_cache
from urllib.parse import urlsplit

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stackpref.errors import InputError, UnreachableError


def is_uri(location: str) -> bool:
    return "://" in str(location)


@lru_cache(maxsize=16)
def _filesystem(scheme: str, netloc: str) -> pafs.FileSystem:
    """One client per bucket: an S3 client takes a moment to build and holds a connection pool."""
    try:
        return pafs.FileSystem.from_uri(f"{scheme}://{netloc}/")[0]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        pass
    except OSError as exc:  # S3 asks the bucket for its region: no network, no bucket or no credentials
        reason = " ".join(str(exc).split())[:300]
        raise UnreachableError(f"{scheme}://{netloc}: cannot reach it ({reason}); check the network, the "
                               "bucket name and the credentials") from None
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{scheme}:// needs fsspec: pip install fsspec") from None
    try:
        handler = pafs.FSSpecHandler(fsspec.filesystem(scheme))
    except (ImportError, ValueError) as exc:
        raise InputError(f"{scheme}://: no filesystem for this scheme ({exc})") from None
    return pafs.PyFileSystem(handler)


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path within it). Local paths are made absolute."""
    location = str(location)
    if not is_uri(location):
        return pafs.LocalFileSystem(), os.path.abspath(location)
    parts = urlsplit(location)
    fs = _filesystem(parts.scheme, parts.netloc)
    if isinstance(fs, pafs.PyFileSystem):  # fsspec paths keep their bucket or repo
        return fs, location.split("://", 1)[1].rstrip("/")
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


def join(location: str, *parts: str) -> str:
    location = str(location)
    return posixpath.join(location, *parts) if is_uri(location) else os.path.join(location, *parts)


def name(location: str) -> str:
    return posixpath.basename(str(location).rstrip("/"))


def parent(location: str) -> str:
    location = str(location).rstrip("/")
    return posixpath.dirname(location) if is_uri(location) else os.path.dirname(os.path.abspath(location))


def kind(location: str) -> str | None:
    """'file', 'dir', or None when nothing is there."""
    fs, path = resolve(location)
    found = fs.get_file_info(path).type
    return {pafs.FileType.File: "file", pafs.FileType.Directory: "dir"}.get(found)


def size(location: str) -> int:
    fs, path = resolve(location)
    return fs.get_file_info(path).size


def children(location: str) -> list[tuple[str, str]]:
    """(location, 'file' or 'dir') of what a folder holds, sorted by name."""
    fs, path = resolve(location)
    found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(
        (join(location, posixpath.basename(info.path)), "dir" if info.type == pafs.FileType.Directory else "file")
        for info in found
    )


def files(folder: str, prefix: str = "", suffix: str = "") -> list[str]:
    """The files directly in `folder` whose names start with `prefix` and end with `suffix`, sorted."""
    return [loc for loc, what in children(folder)
            if what == "file" and name(loc).startswith(prefix) and name(loc).endswith(suffix)]


def open_input(location: str):
    """A seekable binary file."""
    fs, path = resolve(location)
    return fs.open_input_file(path)


def remove_tree(location: str) -> None:
    fs, path = resolve(location)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


def write_bytes(location: str, data: bytes) -> None:
    fs, path = resolve(location)
    with fs.open_output_stream(path) as handle:
        handle.write(data)


def read_parquet(location: str, columns: list[str] | None = None) -> pa.Table:
    fs, path = resolve(location)
    return pq.read_table(path, filesystem=fs, columns=columns)


def _make_parent(local_path: str) -> None:
    """A local file's folder (an object store has none to make)."""
    os.makedirs(os.path.dirname(os.path.abspath(local_path)), exist_ok=True)


def write_parquet(table: pa.Table, location: str, **options) -> None:
    fs, path = resolve(location)
    if isinstance(fs, pafs.LocalFileSystem):
        _make_parent(path)
    pq.write_table(table, path, filesystem=fs, **options)


def read_frame(location: str, columns: list[str] | None = None) -> pl.DataFrame:
    """A Parquet file as a polars frame: polars' own reader for a local path (several times faster
    than pyarrow's plus a conversion, and spill files are read often), pyarrow's filesystem for a URI."""
    if not is_uri(location):
        return pl.read_parquet(location, columns=columns)
    return pl.from_arrow(read_parquet(location, columns))


def write_frame(frame: pl.DataFrame, location: str, compression: str) -> None:
    """The writing side of `read_frame`, for spill files."""
    if not is_uri(location):
        _make_parent(location)
        frame.write_parquet(location, compression=compression)
    else:
        write_parquet(frame.to_arrow(), location, compression=compression)


def parquet_rows(location: str) -> int:
    with open_input(location) as handle:
        return pq.ParquetFile(handle).metadata.num_rows


def move(source: str, target: str) -> None:
    fs, src = resolve(source)
    fs.move(src, resolve(target)[1])


def move_tree(source: str, target: str) -> None:
    """Every file under `source` to the same place under `target` (an object store has no rename
    of folders: copy, then delete), then `source` removed."""
    fs, src = resolve(source)
    _, dst = resolve(target)
    for info in fs.get_file_info(pafs.FileSelector(src, recursive=True)):
        if info.type == pafs.FileType.File:
            fs.move(info.path, dst + info.path[len(src):])
    remove_tree(source)


def sha256(location: str) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks (local or at a URI)."""
    digest = hashlib.sha256()
    with open_input(location) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
