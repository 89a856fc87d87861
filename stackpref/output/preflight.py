"""Before any work: the output's folder and the tmp dir are folders this build can write in, with
room for the build (an estimate from the inputs' size); during it, an I/O error on a spill or output
file is one line naming the file (`writing`), not a worker's traceback."""

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from stackpref.errors import ConfigError, StackprefError, one_line
from stackpref.output import storage

# Room a build needs, as a multiple of its inputs' text (Source.text_bytes): the spill files of
# passes 1 and 2 (Parquet, compressed, but a row is spilled once per pass and kept until the end),
# and the output's Parquet files (compressed, a subset of the text).
SPILL_FACTOR = 2.0
OUTPUT_FACTOR = 0.5



def _existing(path: Path) -> Path:
    """`path`, or the nearest of its parents that exists (the one a build would create it in)."""
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def writable_folder(option: str, given: str, folder: Path, *, must_exist: bool = False) -> Path:
    """Refuse (ConfigError) a folder this build cannot write in: a file, a missing folder whose parents
    cannot be made, a read-only or special one (/proc). A probe file is created and removed in the
    folder, or in the nearest parent that exists when the folder would be created. Returns that
    existing folder (for its free space)."""
    found = _existing(folder)
    if must_exist and found != folder:
        raise ConfigError(f"{option} {given}: no such folder ({found} is the nearest that exists); create it, "
                          f"or choose another {option}")
    if not found.is_dir():
        raise ConfigError(f"{option} {given}: {found} is {'a file' if found.exists() else 'not a folder'}, not a "
                          f"folder to write in; choose another {option}")
    try:
        handle, probe = tempfile.mkstemp(prefix=".stackpref-probe-", dir=found)
    except OSError as exc:
        where = "" if found == folder else f" (in {found}, where its folder would be made)"
        raise ConfigError(f"{option} {given}: cannot write there{where} ({_reason(exc)}); choose another "
                          f"{option}") from None
    os.close(handle)
    try:
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {given}: cannot remove a file there ({_reason(exc)}); choose another "
                          f"{option}") from None
    return found


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _device(path: Path) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def check_room(out: str, tmp_dir: str | None, text_bytes: int) -> None:
    """Refuse, before any work, an OUT or --tmp-dir this build cannot write in, or one without room
    for about SPILL_FACTOR times the inputs' text (the spill: in --tmp-dir, else in the staging
    folder beside OUT, else in the system's temporary folder when OUT is a URI) plus OUTPUT_FACTOR
    times it (the output, staged beside OUT). URIs are not checked (an object store has no free space
    to ask for)."""
    needs: dict[Path, list] = {}  # existing folder -> [bytes, options it is for, its device]

    def need(option: str, given: str, folder: Path, n: float, must_exist: bool = False) -> None:
        found = writable_folder(option, given, folder, must_exist=must_exist)
        device = _device(found)
        for entry in needs.values():
            if device is not None and entry[2] == device:  # one filesystem: the needs add up
                entry[0] += n
                entry[1].append(option)
                return
        needs[found] = [n, [option], device]

    spill, output = SPILL_FACTOR * text_bytes, OUTPUT_FACTOR * text_bytes
    if not storage.is_uri(out):
        need("--out", out, Path(out).expanduser().absolute().parent, output)
    if tmp_dir and not storage.is_uri(tmp_dir):
        need("--tmp-dir", tmp_dir, Path(tmp_dir).expanduser().absolute(), spill, must_exist=True)
    elif not tmp_dir and not storage.is_uri(out):
        needs[next(iter(needs))][0] += spill  # spilled in the staging folder, beside OUT
    elif not tmp_dir:
        need("the system's temporary folder", tempfile.gettempdir(), Path(tempfile.gettempdir()), spill)
    for folder, (n, options, _) in needs.items():
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            continue  # no size to compare: the writes will say what is wrong, naming the file
        if n > free:
            raise ConfigError(
                f"{' and '.join(options)}: {folder} has {_size(free)} free, but this build needs about "
                f"{_size(n)} there (about {SPILL_FACTOR:g}x the inputs' {_size(text_bytes)} of text for spill files "
                f"and {OUTPUT_FACTOR:g}x for the output); free some space, or {_elsewhere(options)}")


def _elsewhere(options: list[str]) -> str:
    if options == ["--tmp-dir"]:
        return "choose another --tmp-dir"
    if options == ["--out"]:
        return "choose another --out, or spill elsewhere with --tmp-dir"
    return "choose another --out or --tmp-dir" if "--out" in options else "choose a --tmp-dir with room"


def text_bytes(sources: Iterable) -> int:
    """The inputs' text, as their sources estimate it without reading them (0 for one that cannot
    say: its reader names what is wrong with it)."""
    total = 0
    for source in sources:
        try:
            total += int(source.text_bytes())
        except Exception:  # noqa: BLE001, S112 (an unreadable source fails later, with its name)
            continue
    return total


@contextmanager
def writing(location: str, what: str = "write") -> Iterator[None]:
    """An I/O error while reading or writing a spill or output file becomes one line naming the file
    (a full disk, a folder removed or made read-only during the build): raised in a worker, it comes
    back to the build as it is."""
    try:
        yield
    except OSError as exc:
        raise StackprefError(f"{location}: cannot {what} ({one_line(_reason(exc))}); nothing was written") from None
    except pl.exceptions.ComputeError as exc:  # polars reports a failed write (ENOSPC) as a ComputeError
        raise StackprefError(f"{location}: cannot {what} ({one_line(str(exc))}); nothing was written") from None
