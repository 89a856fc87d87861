"""`build`: sources -> posts -> score/dedup/length/split/pair -> Parquet, card and manifest."""

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import card, manifest
from .config import BuildConfig
from .errors import StackprefError
from .funnel import Funnel
from .length_filter import LengthMeter
from .progress import Progress
from .schema import GIVEN_PAIRS, POSTS
from .sources import Source, resolve_all
from .splits import overlap_check
from .tables import make_tables
from .writer import check_target, staging, write_json, write_split


@dataclass
class BuildResult:
    out: Path
    manifest: dict


def build(config: BuildConfig, *, overwrite: bool = False, progress: bool = False) -> BuildResult:
    """Build the dataset described by `config` into `config.out`; see DESIGN.md for the data flow."""
    out = Path(config.out)
    check_target(out.resolve(), overwrite)  # refuse before any work is done
    sources = resolve_all(config.sources)
    meter = LengthMeter(config.tokenizer, config.trust_remote_code)
    funnel = Funnel()
    with staging(out, overwrite) as stage, Progress(enabled=progress) as bar:
        spill = stage / ".spill"
        posts, given = _read(sources, spill, funnel, bar)
        bar.step("score, dedup, filter, split, pair")
        tables = make_tables(posts, given, config, meter, funnel)
        pairs = tables.pairs.to_arrow()
        sft = tables.sft.to_arrow()
        check = overlap_check(
            pl.concat([tables.pairs.select("site", "question_id", "cluster_id", "split"),
                       tables.sft.select("site", "question_id", "cluster_id", "split")])
        )
        if not check["passed"]:
            raise StackprefError(f"split leakage check failed: {check}; nothing was written")
        bar.step("write Parquet")
        files = {}
        for name, table, split_of in (("pairs", pairs, {"train": "train", "test": "test"}),
                                      ("sft", sft, {"train": "sft", "test": "test"})):
            for split, label in split_of.items():
                part = table.filter(pc.equal(table["split"], label))
                files[f"{name}/{split}"] = write_split(part, stage / "data" / name, split)
        bar.step("inputs checksums, manifest and card")
        record = manifest.render(
            config=config, sources=sources, funnel=funnel, pairs=tables.pairs, sft=tables.sft,
            overlap=check, files=files, length_unit=meter.unit,
        )
        write_json(stage / "manifest.json", record)
        (stage / "README.md").write_text(card.render(record), encoding="utf-8")
        shutil.rmtree(spill)
    return BuildResult(out=out, manifest=record)


def _read(sources: list[Source], spill: Path, funnel: Funnel, bar: Progress) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Stream every source into spill Parquet files, then load only what the global steps need."""
    spill.mkdir()
    skipped: Counter = Counter()
    writers = {}
    read = 0
    for index, source in enumerate(sources):
        bar.step(f"read {source.site} ({Path(source.location).name})")
        for kind, batch in source.batches(skipped):
            if kind not in writers:
                schema = POSTS if kind == "posts" else GIVEN_PAIRS
                writers[kind] = pq.ParquetWriter(spill / f"{kind}.parquet", schema, compression="lz4")
            writers[kind].write_batch(batch)
            read += batch.num_rows
            bar.advance(batch.num_rows)
    for writer in writers.values():
        writer.close()
    total_skipped = sum(skipped.values())
    funnel.record("read", "rows", read + total_skipped, read, **{k: v for k, v in sorted(skipped.items())})
    posts = (
        pl.read_parquet(spill / "posts.parquet") if "posts" in writers else pl.from_arrow(POSTS.empty_table())
    )
    given = pl.read_parquet(spill / "pairs.parquet") if "pairs" in writers else None
    return posts, given

