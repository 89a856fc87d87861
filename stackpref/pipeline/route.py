"""Pass 2 of a build: once the plan says which bucket each question's cluster goes to, move every
row of a few spill files into its bucket, so each bucket holds whole clusters with all their
answers and the last pass can work bucket by bucket in bounded memory."""

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from stackpref.output import storage
from stackpref.output.preflight import writing
from stackpref.pipeline.plan import is_current
from stackpref.pipeline.read import SPILL_COMPRESSION
from stackpref.schema import QUESTION


@lru_cache(maxsize=2)
def _route_table(path: str) -> pl.DataFrame:
    return _read_spill(path)


def _read_spill(path: str) -> pl.DataFrame:
    with writing(path, "read"):
        return storage.read_frame(path)


@dataclass(frozen=True)
class RouteTask:
    """A few spill files of one kind ('posts' or 'pairs'): drop rows of superseded dumps (`newest`:
    site -> its newest dump), then write each row, with its question's link group, into the bucket
    of its question's cluster (one file per bucket reached, under `out_dir`). Answers whose
    question is not in the input are counted."""

    kind: str
    paths: list[str]
    route_path: str
    newest: dict[str, str]
    out_dir: str

    def run(self) -> dict:
        return route_shard(self.kind, self.paths, self.route_path, self.newest, self.out_dir)


def route_shard(kind: str, paths: list[str], route_path: str, newest: dict[str, str], out_dir: str) -> dict:
    frame = pl.concat([_read_spill(path) for path in paths], how="vertical_relaxed")
    frame = frame.filter(is_current(newest))
    key = (
        pl.when(pl.col("post_type") == QUESTION).then(pl.col("post_id")).otherwise(pl.col("parent_id"))
        if kind == "posts" else pl.col("question_id")
    )
    frame = frame.with_columns(_question=key).join(
        _route_table(route_path).rename({"question_id": "_question"}), on=["site", "_question"], how="left"
    ).drop("_question")  # adds bucket and link_group
    orphans = frame.filter(pl.col("bucket").is_null()).height
    name = storage.name(paths[0])
    for (bucket,), part in frame.filter(pl.col("bucket").is_not_null()).partition_by("bucket", as_dict=True).items():
        routed = storage.join(out_dir, f"b{bucket:05d}", f"{kind}-{name}")
        with writing(routed):
            storage.write_frame(part.drop("bucket"), routed, SPILL_COMPRESSION)
    return {"orphan_answer": orphans}
