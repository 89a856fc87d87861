"""`build`: three passes over spilled data, so memory stays flat whatever the input size.

1. read: stream every source; workers convert HTML to Markdown, hash texts, compute MinHash band
   keys, and write each batch to a spill file. Only small keys come back.
2. plan + route: on the keys, pick each site's newest dump and group questions that may be
   duplicates (same hash, or an LSH band in common) into buckets; workers move every spilled row
   into its question's bucket.
3. process: workers take one bucket at a time (verify clusters, filter, split, pair) and write
   that bucket's shard of every output split.
Then the leakage check, manifest and card are made from the written files.
"""

import itertools
import tempfile
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from stackpref.config import BuildConfig
from stackpref.engines import Engine, default_workers, open_engine
from stackpref.errors import StackprefError
from stackpref.output import card, manifest, storage
from stackpref.output.folder import written_keys
from stackpref.output.leakage import overlap_check
from stackpref.output.writer import check_target, list_outputs, staging, write_json
from stackpref.pipeline.funnel import Funnel
from stackpref.pipeline.meter import LengthMeter, check_tokenizer_name
from stackpref.pipeline.plan import (
    bucket_count,
    estimated_buckets,
    newest_dumps,
    route_questions,
    superseded_and_deleted,
)
from stackpref.pipeline.process import ProcessBucket
from stackpref.pipeline.read import SPILL_COMPRESSION, SpillTask
from stackpref.pipeline.route import RouteTask
from stackpref.progress import Progress
from stackpref.sources import Source, resolve_all

ROUTE_GROUP = 4  # most spill files in one route task (16 MB of input, as a bucket)


@dataclass
class BuildResult:
    out: Path | str  # a URI stays a string
    manifest: dict


def _workers(config: BuildConfig, buckets: int) -> int:
    """--workers, else every core; but a one-bucket input runs in this process, since a pool costs
    about a second to start and the last pass could not use a second worker anyway. (The ray
    engine counts the cluster's CPUs itself.)"""
    if config.workers or config.engine == "ray":
        return config.workers
    return 1 if buckets == 1 else default_workers()


def _spill_folder(config: BuildConfig, stage: str) -> str:
    """A fresh folder for spill files: in --tmp-dir (a URI gets a unique prefix), else beside the
    output when that is local, else in the system's temporary folder."""
    if config.tmp_dir and storage.is_uri(config.tmp_dir):
        return storage.join(config.tmp_dir, f"stackpref-spill-{uuid.uuid4().hex[:12]}")
    local = config.tmp_dir or (None if storage.is_uri(stage) else stage)
    return tempfile.mkdtemp(prefix="stackpref-spill-", dir=local)


def build(config: BuildConfig, *, overwrite: bool = False, progress: bool = False) -> BuildResult:
    """Build the dataset described by `config` into `config.out`; see DESIGN.md for the data flow."""
    out = config.out if storage.is_uri(config.out) else Path(config.out)
    check_target(config.out, overwrite)  # refuse before any work is done
    sources = resolve_all(config.sources)
    check_tokenizer_name(config.tokenizer)  # a missing tokenizer folder fails before any work
    funnel = Funnel()
    # Beside passes 1 and 2, in threads: input checksums (reading every input once more; hashlib
    # releases the GIL), and the tokenizer, first needed in pass 3 (transformers takes seconds to import).
    with ThreadPoolExecutor(max_workers=2) as beside, staging(config.out, overwrite) as stage, \
            Progress(enabled=progress) as bar:
        inputs = beside.submit(lambda: [source.describe() for source in sources])
        meter = beside.submit(LengthMeter.load, config.tokenizer, config.trust_remote_code)
        spill = _spill_folder(config, stage)
        try:
            with open_engine(config.engine, _workers(config, estimated_buckets(sources)), config.ray_address) as engine:
                keys = _read(sources, spill, config, engine, funnel, bar)
                buckets = bucket_count(keys["text_bytes"])
                routed = _route(keys, sources, spill, buckets, config, engine, funnel, bar)
                meter = meter.result()
                clusters = _process(routed, stage, buckets, config, meter.spec(), engine, funnel, bar)
                if config.duplicate_links:
                    clusters["duplicate_links"] = keys["duplicate_links"]
        finally:
            storage.remove_tree(spill)
        bar.step("leakage check, manifest and card")
        written = written_keys(stage)
        check = overlap_check(written)
        if not check["passed"]:
            raise StackprefError(f"split leakage check failed: {check}; nothing was written")
        record = manifest.render(
            config=config, inputs=_dated(inputs.result(), keys["dates"]), funnel=funnel, written=written,
            overlap=check, files=list_outputs(stage), length_unit=meter.unit,
            clusters=clusters, boilerplate=keys["boilerplate"],
        )
        write_json(storage.join(stage, "manifest.json"), record)
        storage.write_bytes(storage.join(stage, "README.md"), card.render(record).encode("utf-8"))
    return BuildResult(out=out, manifest=record)


def _read(sources: list[Source], spill: str, config: BuildConfig, engine: Engine, funnel: Funnel,
          bar: Progress) -> dict:
    """Pass 1. Returns the keys: per-source (first, last) post dates, question keys, post ids of
    multi-dump sites, the spill files, and the boilerplate-answer counts."""
    params = config.minhash_params() if config.near_dup else None
    versioned = _versioned_sites(sources)
    skipped: Counter = Counter()
    dates: dict[str, tuple[str | None, str | None]] = {}
    questions, answers, posts, files, links = [], [], [], [], []
    link_counts: Counter = Counter()
    read = text_bytes = 0

    def tasks(index: int, source: Source):
        pieces = source.pieces()
        if config.duplicate_links:
            pieces = itertools.chain(source.companions(), pieces)
        for number, piece in enumerate(pieces):
            path = storage.join(spill, "read", f"{index:04d}-{number:06d}.parquet")
            if piece.kind != "links":
                files.append((piece.kind, path))
            yield SpillTask(piece, path, params, source.site in versioned)

    for index, source in enumerate(sources):
        bar.step(f"read {source.site} ({storage.name(source.location)})")
        results = engine.imap(tasks(index, source))
        for result in results:
            if result["kind"] == "links":
                links.append(result["links"])
                link_counts.update(result["counts"])
                continue
            read += result["rows"]
            text_bytes += result["text_bytes"]
            skipped.update(result.get("skipped", {}))
            for name, first, last in result["dates"]:
                dates[name] = _widen(dates.get(name), first, last)
            questions.append(result["questions"])
            if "answers" in result:
                answers.append(result["answers"])
            if "posts" in result:
                posts.append(result["posts"])
            bar.advance(result["rows"])
    funnel.record("read", "rows", read + sum(skipped.values()), read, **dict(sorted(skipped.items())))
    return {
        "dates": dates,
        "questions": pl.from_arrow(pa.concat_tables(questions)) if questions else None,
        "posts": pl.from_arrow(pa.concat_tables(posts)) if posts else pl.DataFrame(),
        "files": files,
        "boilerplate": _boilerplate(answers),
        "links": pl.from_arrow(pa.concat_tables(links)) if links else None,
        "text_bytes": text_bytes,
        "link_counts": dict(link_counts),
    }


def _widen(span: tuple[str | None, str | None] | None, first: str | None,
           last: str | None) -> tuple[str | None, str | None]:
    """A source's first and last post dates so far, widened by one batch's (either may be null)."""
    if span is None:
        return first, last
    return min(filter(None, (span[0], first)), default=None), max(filter(None, (span[1], last)), default=None)


def _dated(inputs: list[dict], dates: dict[str, tuple[str | None, str | None]]) -> list[dict]:
    """Each input with the day of its first and last post: the time span of a dump, which its file
    name may not say, for the manifest and the card."""
    dated = []
    for info in inputs:
        first, last = (date.replace("/", "-")[:10] if date else None
                       for date in dates.get(info["location"], (None, None)))
        dated.append({**info, "first_post": first, "last_post": last})
    return dated


def _versioned_sites(sources: list[Source]) -> set[str]:
    """Sites given as more than one dump (Posts.xml or .7z); table sources name their sites per row
    and are taken as they are."""
    dumps = Counter(s.site for s in sources if s.dump)
    return {site for site, n in dumps.items() if n > 1}


def _boilerplate(answers: list[pa.Table]) -> dict:
    """The same answer text under several questions: counted for the manifest, not dropped (it may
    be a fine answer to each)."""
    if not answers:
        return {"texts": 0, "answers": 0, "most_questions": 0}
    shared = (
        pl.from_arrow(pa.concat_tables(answers)).group_by("text_hash")
        .agg(pl.struct("site", "question_id").n_unique().alias("questions"), pl.len().alias("answers"))
        .filter(pl.col("questions") > 1)
    )
    return {"texts": shared.height, "answers": int(shared["answers"].sum() or 0),
            "most_questions": int(shared["questions"].max() or 0)}


def _route(keys: dict, sources: list[Source], spill: str, buckets: int, config: BuildConfig, engine: Engine,
           funnel: Funnel, bar: Progress) -> Path:
    """Plan and pass 2: newest dumps, candidate clusters to buckets, rows moved into buckets."""
    bar.step(f"plan: dump versions, duplicate candidates, {buckets} bucket(s)")
    versioned = _versioned_sites(sources)
    newest = newest_dumps({s.location: keys["dates"].get(s.location, (None, None))[1]
                           for s in sources if s.site in versioned},
                          {s.location: s.site for s in sources})
    superseded, deleted = superseded_and_deleted(keys["posts"], newest)
    read = funnel.stages["read"].kept
    funnel.record("dump_versions", "rows", read, read - superseded - deleted,
                  superseded_by_newer_dump=superseded, deleted_in_newer_dump=deleted)
    routed = storage.join(spill, "buckets")
    read_links = keys["link_counts"]
    keys["duplicate_links"] = {"links_read": read_links.get("links_read", 0), "unreadable": read_links.get(
        "links_unreadable", 0), "duplicate_links": read_links.get("duplicate_links", 0), "resolved": 0, "not_in_build": 0}
    if keys["questions"] is None:
        return routed
    route, link_stats = route_questions(keys["questions"], newest, buckets,
                                         config.minhash_params() if config.near_dup else None, keys["links"])
    keys["duplicate_links"].update(link_stats)
    route_path = storage.join(spill, "route.parquet")
    storage.write_frame(route, route_path, SPILL_COMPRESSION)
    bar.step("route rows to buckets")
    orphans = 0
    tasks = (RouteTask(kind, paths, route_path, newest, routed) for kind, paths in _route_groups(keys["files"], engine.workers))
    for result in engine.imap(tasks):
        orphans += result["orphan_answer"]
        bar.advance(1, unit="tasks")
    funnel.record("answers", "answers", orphans, 0, orphan_answer=orphans)
    return routed


def _route_groups(files: list[tuple[str, str]], workers: int) -> list[tuple[str, list[str]]]:
    """Spill files in runs of one kind, routed together: each route task writes one file per bucket
    it reaches, so routing file by file would leave (files x buckets) small files, a number that
    grows with the square of the input. Enough runs for every worker; at most ROUTE_GROUP files
    (ROUTE_GROUP x 4 MB of input) in one, to bound a task's memory. Which files go together does
    not change the output."""
    size = max(1, min(ROUTE_GROUP, len(files) // (4 * max(1, workers))))
    groups: list[tuple[str, list[str]]] = []
    for kind, path in files:
        if groups and groups[-1][0] == kind and len(groups[-1][1]) < size:
            groups[-1][1].append(path)
        else:
            groups.append((kind, [path]))
    return groups


def _process(routed: str, stage: str, buckets: int, config: BuildConfig, meter: tuple[str, int] | None,
             engine: Engine, funnel: Funnel, bar: Progress) -> dict:
    """Pass 3, bucket by bucket (`meter`: the length meter's spec); returns the summed cluster stats."""
    bar.step(f"verify clusters, filter, split, pair: {buckets} bucket(s)")
    totals: Counter = Counter()
    sizes: Counter = Counter()
    tasks = (ProcessBucket(b, storage.join(routed, f"b{b:05d}"), stage, buckets, config, meter) for b in range(buckets))
    for result in engine.imap(tasks):
        funnel.merge(result["funnel"])
        stats = result["clusters"]
        sizes.update({int(k): v for k, v in stats.pop("size_histogram").items()})
        totals.update(stats)
        bar.advance(1, unit="buckets")
    return {**dict(sorted(totals.items())), "size_histogram": {str(k): v for k, v in sorted(sizes.items())}}
