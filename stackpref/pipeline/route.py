"""Pass 2 of a build: once the plan says which bucket each question's cluster goes to, move every
row of a few spill files into its bucket, so each bucket holds whole clusters with all their
answers and the last pass can work bucket by bucket in bounded memory."""

from dataclasses import dataclass
from functools import lru_cache

import polars as pl
import pyarrow.parquet as pq

from stackpref.output import storage
from stackpref.output.preflight import writing
from stackpref.pipeline.plan import is_current
from stackpref.pipeline.read import SPILL_COMPRESSION, VOTES_ROW_GROUP, read_spill
from stackpref.schema import ANSWER, QUESTION
from stackpref.sources.votes import day_number


@lru_cache(maxsize=2)
def _route_table(path: str) -> pl.DataFrame:
    return read_spill(path)


@dataclass(frozen=True)
class RouteTask:
    """A few spill files of one kind ('posts' or 'pairs'): drop rows of superseded dumps (`newest`:
    site -> its newest dump), then write each row, with its question's link group, into the bucket
    of its question's cluster (one file per bucket reached, under `out_dir`). Answers whose
    question is not in the input are counted. `index`: where to write, for the answers of the dumps
    in `voted` (those with a Votes.xml), which bucket each went to (see JoinVotes)."""

    kind: str
    paths: list[str]
    route_path: str
    newest: dict[str, str]
    out_dir: str
    index: str | None = None
    voted: frozenset[str] = frozenset()

    def run(self) -> dict:
        return route_shard(self.kind, self.paths, self.route_path, self.newest, self.out_dir, self.index, self.voted)


def route_shard(kind: str, paths: list[str], route_path: str, newest: dict[str, str], out_dir: str,
                index: str | None = None, voted: frozenset[str] = frozenset()) -> dict:
    frame = pl.concat([read_spill(path) for path in paths], how="vertical_relaxed")
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
    if index is not None:
        answers = frame.filter((pl.col("post_type") == ANSWER) & pl.col("bucket").is_not_null()
                               & pl.col("source").is_in(list(voted)))
        where = answers.select("site", "post_id", "bucket", "score", day=day_number(pl.col("creation_date"))).sort("post_id")
        location = storage.join(index, name)
        with writing(location):
            storage.write_parquet(where.to_arrow(), location, compression=SPILL_COMPRESSION,
                                  row_group_size=VOTES_ROW_GROUP)
    return {"orphan_answer": orphans}


def _post_range(location: str, low: int | None, high: int | None) -> pl.DataFrame:
    """The rows of a spill file sorted by post_id whose post_id is in [low, high) (None: open),
    reading only the row groups that can hold them."""
    bounds = [*([("post_id", ">=", low)] if low is not None else []),
              *([("post_id", "<", high)] if high is not None else [])]
    filesystem, path = storage.resolve(location)
    with writing(location, "read"):
        return pl.from_arrow(pq.read_table(path, filesystem=filesystem, filters=bounds or None))


@dataclass(frozen=True)
class JoinVotes:
    """Pass 2 for the votes of the posts with ids in [low, high): sum the partials of the current
    dumps' votes spill files (`votes`: site, file) for the answers the route tasks indexed, and
    write each answer's up and down votes into its bucket (`votes-NUMBER.parquet`, beside its
    rows), so the last pass has them without any process holding every post's votes; counts the
    answers whose up minus down votes is not their dump's net Score. With `window` (days), only the
    votes cast on the answer's day and the window-1 days after it count, and an answer whose window
    had not ended by its dump's last day (`dump_days`: site -> day) is marked `young`."""

    number: int
    low: int | None
    high: int | None
    votes: list[tuple[str, str]]
    index: list[str]
    window: int | None
    dump_days: dict[str, int]
    out_dir: str

    def run(self) -> dict:
        answers = pl.concat([_post_range(path, self.low, self.high) for path in self.index], how="vertical_relaxed")
        ids = answers.select("site", "post_id")  # each file's partials cut to the answers' first: questions' go
        partials = pl.concat([_post_range(path, self.low, self.high).with_columns(site=pl.lit(site))
                              .join(ids, on=["site", "post_id"], how="semi") for site, path in self.votes])
        joined = answers.join(partials.rename({"day": "vote_day"}), on=["site", "post_id"], how="left")
        counted = pl.lit(True) if self.window is None else (pl.col("vote_day") - pl.col("day")) < self.window
        sums = joined.group_by("site", "post_id", "bucket", "score", "day").agg(
            up_votes=pl.col("up").filter(counted).sum().cast(pl.Int64),
            down_votes=pl.col("down").filter(counted).sum().cast(pl.Int64),
            all_votes=(pl.col("up") + pl.col("down")).sum().cast(pl.Int64),
            net=(pl.col("up") - pl.col("down")).sum().cast(pl.Int64),
        )
        young = pl.lit(False) if self.window is None else \
            (pl.col("day") + self.window > pl.col("site").replace_strict(self.dump_days, default=None)).fill_null(True)
        sums = sums.with_columns(young=young).sort("site", "post_id")
        for (bucket,), part in sums.partition_by("bucket", as_dict=True).items():
            location = storage.join(self.out_dir, f"b{bucket:05d}", f"votes-{self.number:05d}.parquet")
            with writing(location):
                storage.write_frame(part.select(pl.col("site"), pl.col("post_id").alias("answer_id"), "up_votes",
                                                "down_votes", "young"), location, SPILL_COMPRESSION)
        return {"on_answers": int(sums["all_votes"].sum() or 0), "answers": sums.height,
                "net_not_score": int((sums["net"] != sums["score"]).sum()),
                "in_window": int((sums["up_votes"] + sums["down_votes"]).sum() or 0)}
