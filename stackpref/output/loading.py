"""`stackpref.load`: a build folder or a Hub dataset repo as a `datasets.DatasetDict`, read through
the configs its card declares, so what is loaded is exactly what the card says."""

import re
from pathlib import Path
from typing import TYPE_CHECKING

from stackpref.errors import InputError
from stackpref.output import storage
from stackpref.output.folder import BuildFolder

if TYPE_CHECKING:
    from datasets import DatasetDict

# owner/name as the Hub spells repo ids (a bare name is taken as a local folder).
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load(path_or_repo: str | Path, config: str = "pairs") -> "DatasetDict":
    """`config` is "pairs" (prompt, chosen, rejected) or "sft" (prompt, completion); the result has
    the splits the card declares (train, test). A local folder is read with the Parquet builder over
    its card's data_files; a Hub repo id through `datasets.load_dataset(repo, config)`.

    A build at a URI (`s3://`, `gs://`, ...) is read through stackpref's storage into memory, each
    declared split from its files: datasets would need s3fs or gcsfs for such URIs, which stackpref
    does not install, and validate holds the card's patterns to exactly these files."""
    import datasets

    location = str(path_or_repo)
    found = storage.kind(location)
    if found == "dir":
        folder = BuildFolder(location)
        patterns = folder.data_files(config)
        if not storage.is_uri(location):
            return datasets.load_dataset(
                "parquet", data_files={split: folder.path(pattern) for split, pattern in patterns.items()}
            )
        features = datasets.Features.from_arrow_schema(folder.schemas[config])
        return datasets.DatasetDict({
            split: datasets.Dataset.from_polars(folder.frame(config, split), features=features, split=split)
            for split in patterns
        })
    if found == "file":
        raise InputError(f"{location}: a file; stackpref.load takes a build folder or a Hub dataset id (owner/name)")
    if _REPO_ID.match(location):
        return datasets.load_dataset(location, config)
    raise InputError(f"{location}: no such folder, and not a Hub dataset id (owner/name)")
