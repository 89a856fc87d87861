"""A Parquet or JSONL file in one of the Hub layouts (see hub_layouts.py), read in this process
in record batches that the workers convert."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow as pa

from stackpref.output import storage
from stackpref.sources import hub_layouts
from stackpref.sources.base import Source

SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass(frozen=True)
class TableBatch:
    """Rows already read: POSTS ('posts') or GIVEN_PAIRS ('pairs'), bodies HTML or Markdown."""

    kind: str
    table: pa.RecordBatch | pa.Table
    html = False

    def read(self) -> tuple[str, pa.Table, dict[str, int]]:
        return self.kind, self.table, {}


@dataclass(frozen=True)
class TableSource(Source):
    kind = "table"

    @classmethod
    def claims(cls, name: str) -> bool:
        return name.lower().endswith(SUFFIXES)

    @classmethod
    def from_file(cls, location: str) -> "TableSource":
        """Rows name their own site (metadata URLs); the file's stem is the fallback."""
        return cls(location, PurePosixPath(storage.name(location)).stem)

    def text_bytes(self) -> int:
        if not self.location.endswith(".parquet"):
            return storage.size(self.location)
        import pyarrow.parquet as pq

        try:  # compressed on disk: the footer knows the uncompressed size
            with storage.open_input(self.location) as handle:
                meta = pq.ParquetFile(handle).metadata
            return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        except (OSError, ValueError):  # unreadable: the reader will say so, with the file's name
            return storage.size(self.location)

    def pieces(self) -> Iterator[TableBatch]:
        for kind, batch in hub_layouts.convert_batches(hub_layouts.iter_tables(self.location), source=self.location,
                                                       site=self.site):
            yield TableBatch(kind, batch)
