"""Reference log-probs cached on disk, keyed by (reference, token sequences, software): a second
checkpoint evaluated against the same reference on the same pairs skips the reference pass, half the work.

The key holds the reference's id (the base's resolved Hub revision or its files' hashes, the adapter's
files' hashes, 4-bit or not, dtype, device, see `models.Reference`), the xxh3 of every token id scored,
the versions of the packages that compute the log-probs, and this cache's format version, so a changed
model, tokenizer, data or library never hits a stale entry.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from stackpref.output.manifest import package_versions

FORMAT = 2  # bump when what an entry holds, or how it is keyed, changes
_SOFTWARE = ("torch", "transformers", "peft", "bitsandbytes")  # what computes the log-probs (and stackpref)


def default_dir() -> Path:
    """$STACKPREF_CACHE/eval-ref, else $XDG_CACHE_HOME/stackpref/eval-ref, else ~/.cache/stackpref/eval-ref."""
    root = os.environ.get("STACKPREF_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"),
                                                     "stackpref")
    return Path(root) / "eval-ref"


def key(reference_id: str, tokens_digest: str) -> str:
    parts = {"format": FORMAT, "reference": reference_id, "tokens": tokens_digest,
             "versions": package_versions(_SOFTWARE)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def entry(cache_dir: str | Path | None, reference_id: str, tokens_digest: str) -> Path:
    return Path(cache_dir or default_dir()) / f"{key(reference_id, tokens_digest)}.npy"


def read(path: Path, rows: int, columns: int) -> np.ndarray | None:
    """The cached (rows, columns) log-probs, or None when absent or not of that shape."""
    if not path.is_file():
        return None
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return values if values.shape == (rows, columns) else None


def write(path: Path, values: np.ndarray) -> None:
    """Written to a temporary name and renamed, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    np.save(partial, values, allow_pickle=False)
    partial.replace(path)
