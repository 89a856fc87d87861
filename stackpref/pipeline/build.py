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
import json
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from stackpref import processes
from stackpref.config import BuildConfig
from stackpref.engines import Engine, default_workers, open_engine
from stackpref.errors import InputError, StackprefError, one_line
from stackpref.output import card, manifest, preflight, storage
from stackpref.output.bias import pair_bias
from stackpref.output.folder import written_keys
from stackpref.output.leakage import overlap_check
from stackpref.output.writer import check_target, list_outputs, staging, write_json
from stackpref.pipeline.funnel import Funnel
from stackpref.pipeline.meter import LengthMeter, check_tokenizer_name
from stackpref.pipeline.plan import (
    LATEST_DATES,
    bucket_count,
    dump_days,
    estimated_buckets,
    newest_dumps,
    route_questions,
    superseded_and_deleted,
    vote_ranges,
    vote_summary,
)
from stackpref.pipeline.process import ProcessBucket
from stackpref.pipeline.read import SPILL_COMPRESSION, SpillTask
from stackpref.pipeline.route import JoinVotes, RouteTask
from stackpref.pipeline.unique_ids import check_unique_ids
from stackpref.progress import Progress
from stackpref.sources import SiteOverrides, Source, resolve, resolve_all
from stackpref.sources.base import beside
from stackpref.sources.posts_file import PostsXmlSource
from stackpref.sources.votes import NAME as VOTES_XML

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
    output when that is local (in the staging folder, which a later build of OUT removes if this one
    is killed), else in the system's temporary folder. A local one is named for its owner,
    `stackpref-spill-PID-*`, and holds `owner.json` (pid, host, start time); the spill folders of
    builds on this host that are no longer running are removed first (a build killed with -9 cannot
    remove its own)."""
    if config.tmp_dir and storage.is_uri(config.tmp_dir):
        return storage.join(config.tmp_dir, f"stackpref-spill-{uuid.uuid4().hex[:12]}")
    local = config.tmp_dir or (None if storage.is_uri(stage) else stage)
    _remove_stale_spills(Path(local or tempfile.gettempdir()))
    folder = tempfile.mkdtemp(prefix=f"stackpref-spill-{os.getpid()}-", dir=local)
    Path(folder, SPILL_OWNER).write_text(json.dumps(_owner()), encoding="utf-8")
    return folder


SPILL_OWNER = "owner.json"


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": processes.started(os.getpid())}


def _remove_stale_spills(parent: Path) -> None:
    """Remove the spill folders in `parent` whose build ran on this host and is gone."""
    try:
        folders = [p for p in parent.glob("stackpref-spill-*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return
    host = socket.gethostname()
    for folder in folders:
        try:
            owner = json.loads((folder / SPILL_OWNER).read_text(encoding="utf-8"))
            pid = owner["pid"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge (a build still writing its marker, or not a stackpref one)
        if owner.get("host") != host or not isinstance(pid, int):
            continue
        if processes.alive(pid) and processes.started(pid) in (None, owner.get("started")):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        print(f"stackpref: removed {folder}, the spill folder of a build (pid {pid}) that was stopped",
              file=sys.stderr, flush=True)


def build(config: BuildConfig, *, overwrite: bool = False, progress: bool = False) -> BuildResult:
    """Build the dataset described by `config` into `config.out`; see DESIGN.md for the data flow."""
    out = config.out if storage.is_uri(config.out) else Path(config.out)
    check_target(config.out, overwrite)  # refuse before any work is done
    sources, refused = _resolve(config)
    if config.score_window:
        _require_votes(sources)
    check_tokenizer_name(config.tokenizer)  # a missing tokenizer folder fails before any work
    _preflight(config, [*sources, *(source for source, _ in refused)])
    funnel = Funnel()
    # Beside passes 1 and 2, in threads: input checksums (reading every input once more; hashlib
    # releases the GIL), and the tokenizer, first needed in pass 3 (transformers takes seconds to import).
    with ThreadPoolExecutor(max_workers=2) as beside, staging(
            config.out, overwrite, sources=_input_locations(config, sources, refused), tmp_dir=config.tmp_dir) as stage, \
            Progress(enabled=progress) as bar:
        inputs = beside.submit(_describe_all, [*sources, *(source for source, _ in refused)])
        meter = beside.submit(LengthMeter.for_build, config)
        spill = _spill_folder(config, stage)
        try:
            with open_engine(config.engine, _workers(config, estimated_buckets(sources)), config.ray_address) as engine:
                keys = _read(sources, spill, config, engine, funnel, bar)
                skipped = [*refused, *((sources[i], reason) for i, reason in keys["skipped"].items())]
                kept = [source for i, source in enumerate(sources) if i not in keys["skipped"]]
                if not kept:
                    raise _nothing_left(skipped)
                buckets = bucket_count(keys["text_bytes"], funnel.stages["read"].kept)
                routed = _route(keys, kept, spill, buckets, config, engine, funnel, bar)
                meter = meter.result()
                clusters = _process(routed, stage, buckets, config, meter.spec(), engine, funnel, bar)
                if config.duplicate_links:
                    clusters["duplicate_links"] = keys["duplicate_links"]
                if keys["votes"]:
                    clusters["votes"] = keys["votes"]["summary"]
        finally:
            storage.remove_tree(spill)
        if (why := funnel.why_empty()) is not None:
            raise InputError(f"nothing to write: no pair and no SFT row is left ({why}); change the option "
                             "behind the largest drop (stackpref build --help) or check the inputs")
        bar.step("leakage check, manifest and card")
        written = written_keys(stage)
        check = overlap_check(written)
        if not check["passed"]:
            raise StackprefError(f"split leakage check failed: {check}; nothing was written")
        described = inputs.result()
        record = manifest.render(
            config=config, inputs=_dated(_kept_inputs(described[: len(sources)], keys["skipped"]), keys["dates"]),
            funnel=funnel, written=written, overlap=check, files=list_outputs(stage), length_unit=meter.unit,
            chat_template=meter.chat.template if meter.chat else None,
            clusters=clusters, boilerplate=keys["boilerplate"], bias=pair_bias(stage),
            skipped_sources=_skipped_entries(skipped, [*described[len(sources):], *(
                described[i] for i in keys["skipped"])]),
        )
        card_text = card.seal(record)
        for name, write in (("manifest.json", lambda at: write_json(at, record)),
                            ("README.md", lambda at: storage.write_bytes(at, card_text.encode("utf-8")))):
            with preflight.writing(storage.join(stage, name)):
                write(storage.join(stage, name))
    return BuildResult(out=out, manifest=record)


def _require_votes(sources: list[Source]) -> None:
    """--score-window scores answers by the votes of their first days: every input needs them."""
    for source in sources:
        if not source.has_votes():
            raise InputError(f"{source.location}: --score-window needs the site's Votes.xml (beside its Posts.xml or "
                             "in its .7z), and this input has none; leave --score-window out or add the Votes.xml")


def _preflight(config: BuildConfig, sources: list[Source]) -> None:
    """Before any work: OUT's folder and the tmp dir can be written in and have room for about what
    the inputs' size says the build needs (see output/preflight.py)."""
    preflight.check_room(config.out, config.tmp_dir, preflight.text_bytes(sources))


def _resolve(config: BuildConfig) -> tuple[list[Source], list[tuple[Source, str]]]:
    """The build's sources, and the dumps refused already with the reason. With --on-bad-input
    skip, a dump whose site cannot be told because its own content cannot be read (an unreadable
    .7z, a Posts.xml that is not XML: neither says its host) is refused here, as pass 1 would
    refuse it; one that reads but does not say its host still stops the build (it needs --site),
    as do a path that is not there, an unsupported file and a --site entry that names no dump:
    those are about what was asked for, not about a source's content."""
    if config.on_bad_input != "skip" or not config.sources:
        return resolve_all(config.sources, config.site), []
    overrides = SiteOverrides(config.site)
    found = [source for location in config.sources for source in resolve(location, overrides)]
    unknown, overrides.unknown = overrides.unknown, []
    overrides.finish()  # an unused --site entry first, as resolve_all does
    nameless = [source for source in found if not source.site]  # a dump without a host: "" (see sites.dump_host)
    if unknown and len(unknown) != len(nameless):
        raise unknown[0]
    refused = []
    for source, error in zip(nameless, unknown):
        if (reason := _unreadable(source)) is None:
            raise error  # it reads: what is missing is its --site
        refused.append((source, reason))
    kept = [source for source in found if source.site]
    if not kept:
        raise _nothing_left(refused)
    return kept, refused


def _unreadable(source: Source) -> str | None:
    """Why a source's first piece cannot be read, or None when it reads."""
    pieces = source.pieces()
    try:
        piece = next(iter(pieces), None)
        if piece is not None:
            piece.read()
    except InputError as error:
        return one_line(str(error))
    except OSError as error:
        return f"{source.location}: cannot read ({one_line(str(error))})"
    finally:
        if hasattr(pieces, "close"):
            pieces.close()  # a .7z member's decompressing thread stops here
    return None


def _nothing_left(skipped: list[tuple[Source, str]]) -> InputError:
    return InputError(f"nothing left to build: all {len(skipped)} source(s) failed to parse and were skipped "
                      f"(--on-bad-input skip): {'; '.join(reason for _, reason in skipped)}; nothing was written")


def _describe_all(sources: list[Source]) -> list[dict | Exception]:
    """Each source's manifest entry (describe()), or the error that stopped it: raised later for a
    source the build reads, only reported for one it skipped (it may not even open)."""
    described: list[dict | Exception] = []
    for source in sources:
        try:
            described.append(source.describe())
        except Exception as error:  # noqa: BLE001 (re-raised by _kept_inputs for a source that was read)
            described.append(error)
    return described


def _kept_inputs(described: list[dict | Exception], skipped: dict[int, str]) -> list[dict]:
    """The manifest entries of the sources read (skipped: by index, those left out)."""
    kept = []
    for index, info in enumerate(described):
        if index in skipped:
            continue
        if isinstance(info, Exception):
            raise info
        kept.append(info)
    return kept


def _skipped_entries(skipped: list[tuple[Source, str]], described: list[dict | Exception]) -> list[dict]:
    """The manifest's `skipped_sources`: each source left out, why, and its size and checksum
    (null when it cannot be read at all)."""
    entries = []
    for (source, reason), info in zip(skipped, described):
        ok = isinstance(info, dict)
        entries.append({"location": source.location, "site": source.site or None, "kind": source.kind,
                        "reason": reason, "bytes": info.get("bytes") if ok else None,
                        "sha256": info.get("sha256") if ok else None})
    return entries


@dataclass
class _ReadKeys:
    """The keys pass 1 collects, from the sources read so far, or from one source: kept apart until
    it is read whole, so that a source skipped half-way leaves nothing behind."""

    dates: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    questions: list[pa.Table] = field(default_factory=list)
    answers: list[pa.Table] = field(default_factory=list)
    posts: list[pa.Table] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)
    links: list[pa.Table] = field(default_factory=list)
    link_counts: Counter = field(default_factory=Counter)
    votes: list[tuple[str, str, str]] = field(default_factory=list)  # (source, site, spill file) of each votes piece
    vote_counts: Counter = field(default_factory=Counter)
    vote_posts: list[int] = field(default_factory=list)  # the least and greatest post id voted on
    vote_days: dict[str, int | None] = field(default_factory=dict)  # source with votes -> its latest vote day
    id_spans: list[tuple[int, int, str]] = field(default_factory=list)  # each posts piece's (lowest, highest id, file)
    skipped: Counter = field(default_factory=Counter)
    read: int = 0
    text_bytes: int = 0

    def add(self, result: dict) -> None:
        """One spill task's result."""
        if result["kind"] == "links":
            self.links.append(result["links"])
            self.link_counts.update(result["counts"])
            return
        if result["kind"] == "votes":
            self.vote_counts.update({**result["counts"], "partials": result["partials"]})
            self.vote_posts = _span([*self.vote_posts, *(end for end in result["posts"] if end is not None)])
            return
        self.read += result["rows"]
        self.text_bytes += result["text_bytes"]
        self.skipped.update(result.get("skipped", {}))
        for name, first, last in result["dates"]:
            self.dates[name] = _widen(self.dates.get(name), first, last)
        self.questions.append(result["questions"])
        if "answers" in result:
            self.answers.append(result["answers"])
        if "posts" in result:
            self.posts.append(result["posts"])
        if "id_span" in result:
            self.id_spans.append(result["id_span"])

    def merge(self, other: "_ReadKeys") -> None:
        """Another source's keys, once it was read whole."""
        for name, (first, last) in other.dates.items():
            self.dates[name] = _widen(self.dates.get(name), first, last)
        for name in ("questions", "answers", "posts", "files", "links"):
            getattr(self, name).extend(getattr(other, name))
        self.link_counts.update(other.link_counts)
        self.votes.extend(other.votes)
        self.vote_counts.update(other.vote_counts)
        self.vote_posts = _span([*self.vote_posts, *other.vote_posts])
        self.vote_days.update(other.vote_days)
        self.skipped.update(other.skipped)
        self.read += other.read
        self.text_bytes += other.text_bytes


def _span(ends: list[int]) -> list[int]:
    """[least, greatest] of some post ids ([] for none)."""
    return [min(ends), max(ends)] if ends else []


def _read(sources: list[Source], spill: str, config: BuildConfig, engine: Engine, funnel: Funnel,
          bar: Progress) -> dict:
    """Pass 1. Returns the keys: per-source (first, last) post dates, question keys, post ids of
    multi-dump sites, the spill files, the boilerplate-answer counts, the votes (their spill files,
    counts, post-id span and latest days; None without any Votes.xml), and (with --on-bad-input
    skip) the sources left out, by index, with the reason: one that failed to parse is dropped
    whole (its keys never reach the plan, its spill files are removed) and the read goes on."""
    params = config.minhash_params() if config.near_dup else None
    versioned = _versioned_sites(sources)
    keys = _ReadKeys()
    left_out: dict[int, str] = {}

    sizes: deque[int] = deque()  # input bytes of each task in flight, for the progress display

    def tasks(index: int, source: Source, own: _ReadKeys):
        pieces = source.pieces()
        if config.duplicate_links:
            pieces = itertools.chain(source.companions(), pieces)
        for number, piece in enumerate(itertools.chain(pieces, source.votes())):  # votes last: posts keep their names
            path = storage.join(spill, "read", f"{index:04d}-{number:06d}.parquet")
            if piece.kind == "votes":
                own.votes.append((source.location, source.site, path))
                own.vote_days.setdefault(source.location, None)
            elif piece.kind != "links":
                own.files.append((piece.kind, path))
            sizes.append(_piece_bytes(piece))
            yield SpillTask(piece, path, params, source.site in versioned)

    for index, source in enumerate(sources):
        bar.step(f"read {source.site} ({storage.name(source.location)})", total_bytes=_known_size(source))
        sizes.clear()
        own = _ReadKeys()
        pending = tasks(index, source, own)
        try:
            for result in engine.imap(pending):
                own.add(result)
                nbytes = sizes.popleft() if sizes else 0
                if result["kind"] != "links":
                    bar.advance(result.get("rows", 0), nbytes=nbytes)
                if result["kind"] == "votes" and result["last_day"] is not None:
                    own.vote_days[source.location] = max(own.vote_days[source.location] or 0, result["last_day"])
            check_unique_ids(own.id_spans, source.location, source.posts_chunks)
        except InputError as error:
            if config.on_bad_input != "skip":
                raise
            pending.close()
            left_out[index] = one_line(str(error))
            _discard(spill, index)
            bar.step(f"skipped {storage.name(source.location)}: {left_out[index]}")
            continue
        keys.merge(own)
    for index in left_out:  # again: a task of it still running when it failed may have written since
        _discard(spill, index)
    skipped = keys.skipped
    funnel.record("read", "rows", keys.read + sum(skipped.values()), keys.read, **dict(sorted(skipped.items())))
    return {
        "dates": keys.dates,
        "questions": pl.from_arrow(pa.concat_tables(keys.questions)) if keys.questions else None,
        "posts": pl.from_arrow(pa.concat_tables(keys.posts)) if keys.posts else pl.DataFrame(),
        "files": keys.files,
        "boilerplate": _boilerplate(keys.answers),
        "links": pl.from_arrow(pa.concat_tables(keys.links)) if keys.links else None,
        "text_bytes": keys.text_bytes,
        "link_counts": dict(keys.link_counts),
        "votes": {"files": keys.votes, "counts": dict(keys.vote_counts), "posts": keys.vote_posts,
                  "days": keys.vote_days} if keys.votes else None,
        "skipped": left_out,
    }


def _piece_bytes(piece) -> int:
    """Input bytes a piece covers (a byte range of a Posts.xml, a decompressed fragment), or 0."""
    if isinstance(getattr(piece, "start", None), int) and isinstance(getattr(piece, "end", None), int):
        return piece.end - piece.start
    fragment = getattr(piece, "fragment", None)
    return len(fragment) if isinstance(fragment, bytes) else 0


def _known_size(source: Source) -> int | None:
    """The bytes the read of `source` will go through, where known without reading it (a Posts.xml
    and the Votes.xml beside it)."""
    if not isinstance(source, PostsXmlSource):
        return None
    try:
        found = beside(source.location, VOTES_XML)
        return storage.size(source.location) + (storage.size(found) if found else 0)
    except (OSError, ValueError):
        return None


def _discard(spill: str, index: int) -> None:
    """Remove the spill files of source `index` (one left out)."""
    for location in storage.files(storage.join(spill, "read"), prefix=f"{index:04d}-"):
        filesystem, path = storage.resolve(location)
        try:
            filesystem.delete_file(path)
        except FileNotFoundError:
            pass


def _widen(span: tuple[str | None, list[str]] | None, first: str | None,
           last: str | list[str] | None) -> tuple[str | None, list[str]]:
    """A source's first post date and its LATEST_DATES latest ones (newest first) so far, widened by
    one batch's: `last` is the batch's latest dates (read.py), or one date, or null. The latest
    dates, not the one latest, date a dump (see plan.newest_dumps): one bad row cannot move them."""
    latest = [last] if isinstance(last, str) else [date for date in last or () if date]
    if span is None:
        return first, sorted(latest, reverse=True)[:LATEST_DATES]
    return (min(filter(None, (span[0], first)), default=None),
            sorted([*span[1], *latest], reverse=True)[:LATEST_DATES])


def _dated(inputs: list[dict], dates: dict[str, tuple[str | None, list[str]]]) -> list[dict]:
    """Each input with the day of its first and last post: the time span of a dump, which its file
    name may not say, for the manifest and the card."""
    dated = []
    for info in inputs:
        first, latest = dates.get(info["location"], (None, None))
        last = max(latest, default=None) if isinstance(latest, list) else latest
        first, last = (date.replace("/", "-")[:10] if date else None for date in (first, last))
        dated.append({**info, "first_post": first, "last_post": last})
    return dated


def _input_locations(config: BuildConfig, sources: list[Source], refused: list[tuple[Source, str]]) -> list[str]:
    """Every input location, as given and as resolved (the bundled sample when none is given), which
    the output must stay apart from (writer.check_apart)."""
    return [*config.sources, *(source.location for source in sources), *(source.location for source, _ in refused)]


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
    votes = keys["votes"]
    if votes:
        votes["summary"] = vote_summary(votes["counts"], config.score_window)
    if keys["questions"] is None:
        return routed
    route, link_stats = route_questions(keys["questions"], newest, buckets,
                                         config.minhash_params() if config.near_dup else None, keys["links"])
    keys["duplicate_links"].update(link_stats)
    route_path = storage.join(spill, "route.parquet")
    storage.write_frame(route, route_path, SPILL_COMPRESSION)
    bar.step("route rows to buckets")
    orphans = 0
    index = storage.join(spill, "answer_index") if votes else None
    voted = frozenset(votes["days"]) if votes else frozenset()
    tasks = (RouteTask(kind, paths, route_path, newest, routed, index if kind == "posts" else None, voted)
             for kind, paths in _route_groups(keys["files"], engine.workers))
    for result in engine.imap(tasks):
        orphans += result["orphan_answer"]
        bar.advance(1, unit="tasks")
    funnel.record("answers", "answers", orphans, 0, orphan_answer=orphans)
    if votes:
        _join_votes(votes, [s for s in sources if s.location in voted], keys["dates"], newest, index, routed,
                    config, engine, bar)
    return routed


def _join_votes(votes: dict, voted: list[Source], dates: dict, newest: dict[str, str], index: str, routed: str,
                config: BuildConfig, engine: Engine, bar: Progress) -> None:
    """Pass 2 for the votes: each post-id range's partials summed for the answers routed, into their
    buckets (route.JoinVotes); the counts go to `votes["summary"]`."""
    bar.step("sum votes per answer")
    indexed = storage.files(index, suffix=".parquet")
    if not indexed:
        return
    days = dump_days(voted, newest, dates, votes["days"])
    current = [(site, path) for source, site, path in votes["files"] if newest.get(site, source) == source]
    if not current:  # only an older dump of a site came with its votes
        return
    tasks = (JoinVotes(number, low, high, current, indexed, config.score_window, days, routed)
             for number, (low, high) in enumerate(vote_ranges(votes["posts"], votes["counts"].get("partials", 0))))
    summary = votes["summary"]
    for result in engine.imap(tasks):
        for name in ("on_answers", "answers", "net_not_score"):
            summary[name] += result[name]
        if config.score_window:
            summary["in_window"] += result["in_window"]
        bar.advance(1, unit="tasks")
    summary["not_on_answers"] = summary["up_down_votes"] - summary["on_answers"]


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
