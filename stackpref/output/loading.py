"""`stackpref.load`: a build folder or a Hub dataset repo as a `datasets.DatasetDict`, read through
the configs its card declares, so what is loaded is exactly what the card says."""

import re
from pathlib import Path
from typing import TYPE_CHECKING

from stackpref.errors import InputError
from stackpref.output.validate import card_metadata, declared_data_files

if TYPE_CHECKING:
    from datasets import DatasetDict

# owner/name as the Hub spells repo ids (a bare name is taken as a local folder).
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load(path_or_repo: str | Path, config: str = "pairs") -> "DatasetDict":
    """`config` is "pairs" (prompt, chosen, rejected) or "sft" (prompt, completion); the result has
    the splits the card declares (train, test). A local folder is read with the Parquet builder over
    its card's data_files; a Hub repo id through `datasets.load_dataset(repo, config)`."""
    import datasets

    path = Path(path_or_repo)
    if path.is_dir():
        patterns = declared_data_files(card_metadata(path), config)
        return datasets.load_dataset(
            "parquet", data_files={split: str(path / pattern) for split, pattern in patterns.items()}
        )
    if path.exists():
        raise InputError(f"{path}: a file; stackpref.load takes a build folder or a Hub dataset id (owner/name)")
    if _REPO_ID.match(str(path_or_repo)):
        return datasets.load_dataset(str(path_or_repo), config)
    raise InputError(f"{path_or_repo}: no such folder, and not a Hub dataset id (owner/name)")
