"""A Hub dataset id (`owner/name`) in one of the Hub layouts, streamed with `datasets` (needs network)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stackpref.sources import hub_layouts
from stackpref.sources.base import Source
from stackpref.sources.table import TableBatch

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_UNKNOWN_BYTES = 1 << 30  # its size is unknown without downloading it: plan for a large one


@dataclass(frozen=True)
class HubSource(Source):
    kind = "hub"

    @classmethod
    def from_id(cls, repo_id: str) -> "HubSource":
        return cls(repo_id, repo_id.split("/")[-1])

    def text_bytes(self) -> int:
        return _UNKNOWN_BYTES

    def describe(self) -> dict:
        return {"kind": self.kind, "location": self.location, "site": self.site}

    def pieces(self) -> Iterator[TableBatch]:
        for kind, batch in hub_layouts.convert_batches(hub_layouts.iter_hub_dataset(self.location),
                                                       source=self.location, site=self.site):
            yield TableBatch(kind, batch)
