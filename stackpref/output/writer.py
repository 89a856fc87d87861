"""Atomic, deterministic output: everything is written into a staging folder beside the target
and moved into place at the end, so a crashed or refused build leaves nothing half-written.

No build may lose data that is not its own (see DESIGN.md, "Errors"):

- OUT may not be, contain or lie inside a source, nor be or contain the --tmp-dir (`check_apart`):
  `--overwrite` would delete the input, or the build would write into what it reads.
- A local OUT is claimed for the whole build by a lock file beside it, `.OUT.lock` (`_claim`),
  holding the pid and host of the build: a second build to the same OUT fails at once, naming
  the lock. The lock is an flock(2) on that file, so the kernel drops it when its build dies
  (kill -9 included); a later build then takes the file over and says so. A lock file left by a
  build on another host is not taken over (this host cannot tell whether that build still runs).
- OUT is checked again at the end, under the lock: a folder that appeared at OUT while the build
  ran (a user's) is left as it is and the build fails, unless --overwrite was given.
- `--overwrite` moves the old build aside (`.OUT.PID.*.old`), moves the new one in, then removes
  the old one; a failure between the two moves puts the old build back. A build killed between
  them leaves OUT missing and the old build in `.OUT.*.old`: the next build to OUT, under the
  lock and before anything else, restores it (and says so); it removes old builds left beside an
  OUT in place, and the staging folders (`.OUT.*.tmp`) of stopped builds.

A local target is swapped in with one rename. An object store (`s3://...`) has no rename of a
folder: its staging prefix is copied into place file by file, `manifest.json` last, so a reader
that waits for the manifest never sees a partial build. It has no lock either (no exclusive
create); OUT is checked again before the copy.
"""

import datetime
import errno
import glob
import json
import os
import posixpath
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa

from stackpref import processes
from stackpref.errors import ConfigError, OutputExistsError, StackprefError
from stackpref.output import storage

try:
    import fcntl
except ImportError:  # not on Windows: there, an exclusive create and the holder's pid stand in for flock
    fcntl = None

# Fixed writer settings: same rows in, same bytes out.
_PARQUET = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)


def check_target(out: str, overwrite: bool) -> None:
    found = storage.kind(out)
    if found and not overwrite:
        raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it, or choose another --out")
    if found == "file":
        raise OutputExistsError(f"{out}: exists and is not a folder; refusing to replace it")


# --- OUT apart from the inputs ------------------------------------------------------------------


def _comparable(location: str) -> tuple[str, str] | None:
    """(scheme, normalized path) of a location, or None for a local path that does not exist (a Hub
    dataset id such as `owner/name`: nothing on this machine to lose). Local paths are absolute with
    symlinks resolved; URIs are compared as written, less trailing slashes."""
    location = str(location)
    location = location.removeprefix("file://")
    if storage.is_uri(location):
        scheme, rest = location.split("://", 1)
        return scheme.lower(), posixpath.normpath("/" + rest.strip("/"))
    return "", os.path.realpath(location)


def _relation(out: tuple[str, str], other: tuple[str, str]) -> str | None:
    """'is', 'contains' or 'inside': where OUT stands to another location; None when apart."""
    (scheme, a), (other_scheme, b) = out, other
    if scheme != other_scheme:
        return None
    paths = posixpath if scheme else os.path
    if a == b:
        return "is"
    if paths.commonpath([a, b]) == a:
        return "contains"
    if paths.commonpath([a, b]) == b:
        return "inside"
    return None


def check_apart(out: str, sources: Iterable[str] = (), tmp_dir: str | None = None) -> None:
    """Refuse an OUT that is, contains or lies inside a source, or that is or contains the tmp dir:
    with --overwrite the old OUT is deleted (the input with it), and a build inside its own input
    would read its output back on the next run. (OUT inside the tmp dir is fine: a build only ever
    removes its own spill folder there.)"""
    target = _comparable(out)
    for source in dict.fromkeys(str(s) for s in sources):
        if not storage.is_uri(source) and not source.startswith("file://") and not os.path.lexists(source):
            continue  # a Hub dataset id, not a local path
        relation = _relation(target, _comparable(source))
        if relation == "is":
            raise ConfigError(f"--out {out} is the source {source}: building there would replace the input; "
                              "choose an --out outside every source")
        if relation == "contains":
            raise ConfigError(f"--out {out} contains the source {source}: replacing OUT would delete the input; "
                              "choose an --out outside every source")
        if relation == "inside":
            raise ConfigError(f"--out {out} lies inside the source {source}: the build would write into its own "
                              "input; choose an --out outside every source")
    if tmp_dir:
        relation = _relation(target, _comparable(tmp_dir))
        if relation in ("is", "contains"):
            raise ConfigError(f"--out {out} {relation} the --tmp-dir {tmp_dir}: replacing OUT would delete it; "
                              "choose a --tmp-dir outside --out")


# --- the lock: one build per OUT ----------------------------------------------------------------


def lock_path(out: Path) -> Path:
    """The lock file of a local OUT: beside it, so it is on the same filesystem and never inside it."""
    return out.parent / f".{out.name}.lock"


def _say(message: str) -> None:
    """A note on stderr about something this build did besides its work (a lock taken over, an old
    build restored)."""
    print(f"stackpref: {message}", file=sys.stderr, flush=True)


def _holder(fd: int) -> dict:
    """The pid, host and start time written in a lock file ({} while its build is still writing them,
    or when it holds something else)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _who(holder: dict) -> str:
    if not holder:
        return "another build"
    since = f" since {holder['since']}" if holder.get("since") else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')}{since}"


def _busy(out: str, lock: Path, holder: dict) -> OutputExistsError:
    return OutputExistsError(
        f"{out}: another build is writing it ({_who(holder)} holds the lock {lock}); wait for it to end, "
        "or choose another --out"
    )


def _take(out: str, lock: Path) -> int:
    """Open and lock `lock` for this build (see the module's docstring); returns its descriptor."""
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
        except FileExistsError:  # no flock: the holder's pid says whether it still runs
            fd = os.open(lock, os.O_RDONLY)
            holder = _holder(fd)
            os.close(fd)
            if holder.get("host") != me["host"] or processes.alive(holder.get("pid")):
                raise _busy(out, lock, holder) from None
            _say(f"took over the lock {lock} of {_who(holder)}, a build that is no longer running")
            Path(lock).unlink(missing_ok=True)
            continue
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create the lock file {lock} beside it ({exc.strerror})") from None
        if fcntl:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise _busy(out, lock, holder) from None
            except OSError as exc:
                os.close(fd)
                raise ConfigError(f"--out {out}: cannot lock {lock} ({exc.strerror}); is it on a filesystem "
                                  "without file locks?") from None
            try:  # the holder may have released (unlinked) it between our open and our flock
                current = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                current = False
            if not current:
                os.close(fd)
                continue
            holder = _holder(fd)
            if holder and holder.get("host") != me["host"]:
                os.close(fd)  # flock may not reach that host: it could be running still
                raise OutputExistsError(
                    f"{out}: the lock {lock} is held by {_who(holder)}, another machine, which this one cannot "
                    "check; if no build runs there, remove the lock file"
                )
            if holder:
                state = "no longer running" if not processes.alive(holder.get("pid")) else "no longer holding it"
                _say(f"took over the lock {lock} of {_who(holder)}, a build {state} (killed?)")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode("utf-8"))
        return fd
    raise OutputExistsError(f"{out}: could not take the lock {lock}: other builds keep taking it")


@contextmanager
def _claim(out: str, target: Path) -> Iterator[Path]:
    """Hold OUT's lock while the block runs; release it (remove the file) however it ends."""
    lock = lock_path(target)
    fd = _take(out, lock)
    try:
        yield lock
    finally:
        try:
            lock.unlink(missing_ok=True)  # while still locked: a build waiting on this file retries
        finally:
            os.close(fd)


# --- leftovers of a stopped --overwrite ---------------------------------------------------------


def _leftover_builds(target: Path) -> list[Path]:
    """`.OUT.*.old` folders beside OUT that hold a build (`.OUT.*.old/OUT`), newest first."""
    found = [p for p in target.parent.glob(f".{glob.escape(target.name)}.*.old") if (p / target.name).is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def _recover(out: str, target: Path) -> None:
    """Under the lock, what stopped builds of OUT left: their staging folders (removed); and, from a
    build stopped between the two moves of --overwrite, OUT missing and the old build aside: put it
    back. Old builds aside of an OUT in place were already replaced (the build was stopped before
    removing them): removed."""
    for stage in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if stage.is_dir() and not stage.is_symlink():  # only the lock's holder stages here: none runs now
            shutil.rmtree(stage, ignore_errors=True)
            _say(f"removed {stage}, the unfinished staging folder of a build of {out} that was stopped")
    leftovers = _leftover_builds(target)
    if not leftovers:
        return
    if not os.path.lexists(target):
        newest = leftovers.pop(0)
        os.rename(newest / target.name, target)
        newest.rmdir()
        _say(f"restored {out} from {newest}, where a build stopped while replacing it had left it")
    for old in leftovers:
        shutil.rmtree(old, ignore_errors=True)
        _say(f"removed {old}, a build of {out} already replaced (left by a build stopped while replacing it)")


def _move(source: Path, target: Path) -> None:
    """One rename (a function of its own so that tests can make it fail)."""
    os.replace(source, target)


def _put_in_place(out: str, stage: Path, target: Path, overwrite: bool) -> None:
    """The finished build in `stage` to `target`: checked again (see the module's docstring)."""
    found = storage.kind(str(target)) if os.path.lexists(target) else None
    if found and not overwrite:
        raise OutputExistsError(
            f"{out}: appeared while this build ran (not made by it); it was left as it is and nothing was "
            "written; pass --overwrite to replace it, or choose another --out"
        )
    if found == "file" or (os.path.lexists(target) and not found):
        raise OutputExistsError(f"{out}: a file appeared there while this build ran; it was left as it is "
                                "and nothing was written")
    if not found:
        try:
            os.rename(stage, target)  # fails on a folder with files that appeared since the check
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise OutputExistsError(f"{out}: appeared while this build ran (not made by it); it was left "
                                        "as it is and nothing was written") from None
            raise StackprefError(f"{out}: cannot move the new build into place ({exc.strerror})") from None
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".old", dir=target.parent))
    old = trash / target.name
    try:
        _move(target, old)
    except OSError as exc:
        trash.rmdir()
        raise StackprefError(f"{out}: cannot move the old build aside ({exc.strerror}); it was kept") from None
    try:
        _move(stage, target)
    except BaseException as exc:
        _move(old, target)  # the old build back, before anything else
        trash.rmdir()
        if isinstance(exc, OSError):
            raise StackprefError(f"{out}: cannot move the new build into place ({exc.strerror}); the previous "
                                 "build was kept") from None
        raise
    shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def staging(out: str, overwrite: bool, *, sources: Iterable[str] = (), tmp_dir: str | None = None) -> Iterator[str]:
    """Yield a fresh folder beside `out`; on success it replaces `out`, on any error it is removed.
    `sources` and `tmp_dir`: the build's inputs and spill folder, which OUT must stay apart from."""
    check_apart(out, sources, tmp_dir)
    check_target(out, overwrite)
    if storage.is_uri(out):
        with _remote_staging(str(out).rstrip("/"), overwrite) as stage:
            yield stage
        return
    target = Path(out).resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create its folder {target.parent} ({exc.strerror})") from None
    with _claim(out, target):
        _recover(out, target)
        check_target(out, overwrite)  # again, now that no other build can change it
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset folder should not be
        try:
            yield str(stage)
            _put_in_place(out, stage, target, overwrite)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


@contextmanager
def _remote_staging(out: str, overwrite: bool) -> Iterator[str]:
    stage = f"{storage.parent(out)}/.{storage.name(out)}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield stage
        if not overwrite and storage.kind(out):
            raise OutputExistsError(f"{out}: appeared while this build ran (not made by it); it was left as it is "
                                    "and nothing was written; pass --overwrite to replace it, or choose another --out")
        storage.remove_tree(out)
        storage.move_tree(storage.join(stage, "data"), storage.join(out, "data"))
        for name in ("README.md", "manifest.json"):  # the manifest last: see the module's docstring
            storage.move(storage.join(stage, name), storage.join(out, name))
    finally:
        storage.remove_tree(stage)


def write_table(frame: pl.DataFrame, location: str, schema: pa.Schema) -> None:
    """One Parquet file in the output contract's exact schema, with the fixed writer settings."""
    storage.write_parquet(frame.to_arrow().cast(schema), location, **_PARQUET)


def list_outputs(root: str) -> dict[str, list[dict]]:
    """`{"pairs/train": [{"path", "rows", "bytes", "sha256"}, ...], ...}` for the manifest and the card:
    every output file with what validate and push recompute from it. A split with no rows has no
    files (`[]`): a 0-row Parquet file is never written."""
    files: dict[str, list[dict]] = {}
    for config in ("pairs", "sft"):
        for split in ("train", "test"):
            files[f"{config}/{split}"] = [
                {"path": f"data/{config}/{storage.name(p)}", "rows": storage.parquet_rows(p), "bytes": storage.size(p),
                 "sha256": storage.sha256(p)}
                for p in storage.files(storage.join(root, "data", config), prefix=f"{split}-", suffix=".parquet")
            ]
    return files


def write_json(location: str, data: dict) -> None:
    storage.write_bytes(location, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
