"""The global decisions between pass 1 and pass 2, made on small keys only (no text):
which dump of a site is newest, which questions a site's duplicate links join, and which bucket
each question's cluster goes to."""

import datetime
import math

import numpy as np
import polars as pl

from stackpref.sources import Source
from stackpref.steps import near_dup
from stackpref.steps.text import seeded_unit

BUCKET_INPUT_BYTES = 16 << 20  # input bytes per bucket, for the estimate made before reading
# Text bytes (Markdown, UTF-8) per bucket: bounds the memory of the last pass, and sets its parallelism.
BUCKET_TEXT_BYTES = 10 << 20
BUCKET_ROWS = 50_000  # and at most about this many rows (posts, or given pairs) per bucket
# How many of a dump's latest post dates order its versions (see dump_date_key); pass 1 keeps that many.
LATEST_DATES = 100
EPOCH = datetime.date(1970, 1, 1)  # days of votes and answers are counted from it


def estimated_buckets(sources: list[Source]) -> int:
    """About how many buckets a build will have, from the sizes of its inputs, before any is read."""
    return max(1, math.ceil(sum(source.text_bytes() for source in sources) / BUCKET_INPUT_BYTES))


def bucket_count(text_bytes: int, rows: int) -> int:
    """Buckets for a build, from the text and rows that pass 1 read: a function of the input's
    content only, so the output files depend neither on the number of workers nor on how the input
    was packed (a Posts.xml and its .7z give the same files). Rows count too: millions of posts
    with almost no text would otherwise all land in one bucket, whose memory grows with them."""
    return max(1, math.ceil(text_bytes / BUCKET_TEXT_BYTES), math.ceil(rows / BUCKET_ROWS))


def dump_date_key(latest: str | list[str] | None) -> tuple[str, ...]:
    """What orders the dumps of a site: its LATEST_DATES latest post dates, oldest of them first,
    compared in that order; a dump with fewer posts gives all of its dates. So the first thing
    compared is the LATEST_DATES-th latest date, which rows with wrong, too late dates (unparsable
    and future ones are refused when read) cannot move past the dump's real ones: a newer dump comes
    out newer as long as it has more new posts than the older one has such rows."""
    dates = [latest] if isinstance(latest, str) else [date for date in latest or () if date]
    return tuple(sorted(dates, reverse=True)[:LATEST_DATES][::-1])


def newest_dumps(dates: dict[str, str | list[str] | None], site_of: dict[str, str]) -> dict[str, str]:
    """Site -> its newest dump, among the dumps in `dates` (source -> its latest post dates, or one
    date); dumps are ordered by `dump_date_key`, not by their one latest date, which a single bad row
    would set (ties: the later location)."""
    newest: dict[str, tuple[tuple[str, ...], str]] = {}
    for source, latest in dates.items():
        site = site_of[source]
        key = (dump_date_key(latest), source)
        if site not in newest or key > newest[site]:
            newest[site] = key
    return {site: source for site, (_, source) in newest.items()}


def is_current(newest: dict[str, str]) -> pl.Expr:
    """True for rows of a site's newest dump, and for every row of a site given once."""
    return pl.col("source") == pl.col("site").replace_strict(newest, default=None).fill_null(pl.col("source"))


def superseded_and_deleted(posts: pl.DataFrame, newest: dict[str, str]) -> tuple[int, int]:
    """Posts of older dumps that the newest dump of their site has again, and those it has not."""
    if posts.is_empty():
        return 0, 0
    kept = posts.filter(is_current(newest)).select("site", "post_id")
    older = posts.filter(~is_current(newest))
    again = older.join(kept, on=["site", "post_id"], how="semi").height
    return again, older.height - again


# Vote partials (post, day) summed by one pass-2 task: bounds its memory (about 50 bytes a partial
# with its site, so ~100 MB, plus the answers of its post-id range).
JOIN_PARTIALS = 2_000_000


def vote_ranges(posts: list[int], partials: int) -> list[tuple[int | None, int | None]]:
    """Post-id ranges [low, high) that split the votes' `partials` (over the ids `posts`: least,
    greatest) into about JOIN_PARTIALS each, the ends open so that every answer falls in one: a
    function of the votes read only, like the buckets."""
    count = max(1, math.ceil(partials / JOIN_PARTIALS)) if posts else 1
    if count == 1:
        return [(None, None)]
    width = math.ceil((posts[1] - posts[0] + 1) / count)
    cuts = [posts[0] + width * i for i in range(1, count)]
    return list(zip([None, *cuts], [*cuts, None]))


def dump_days(sources: list[Source], newest: dict[str, str], dates: dict, vote_days: dict[str, int | None]) -> dict[str, int]:
    """Site -> the day its current dump was made, as days since 1970-01-01: its latest post or vote
    (`dates`: source -> (first, latest post dates); `vote_days`: source -> latest vote day)."""
    days = {}
    for source in sources:
        if newest.get(source.site, source.location) != source.location:
            continue
        latest = max(dates.get(source.location, (None, []))[1] or [], default=None)
        post_day = (datetime.date.fromisoformat(latest[:10]) - EPOCH).days if latest else None
        days[source.site] = max((day for day in (post_day, vote_days.get(source.location)) if day is not None),
                                default=None)
    return days


def vote_summary(counts: dict, window: int | None) -> dict:
    """The manifest's vote counts before pass 2 adds what reached the build's answers."""
    summary = {"votes_read": counts.get("votes_read", 0), "unreadable": counts.get("votes_unreadable", 0),
               "up_votes": counts.get("up_votes", 0), "down_votes": counts.get("down_votes", 0),
               "other_votes": counts.get("other_votes", 0)}
    summary["up_down_votes"] = summary["up_votes"] + summary["down_votes"]
    summary.update(on_answers=0, not_on_answers=summary["up_down_votes"], answers=0, net_not_score=0)
    if window:
        summary.update(window_days=window, in_window=0)
    return summary


def duplicate_link_pairs(questions: pl.DataFrame, links: pl.DataFrame | None) -> tuple[np.ndarray, dict]:
    """Row pairs of `questions` (site, question_id) that a duplicate link joins, and counts: distinct
    duplicate links (the same link in several dumps of a site counts once), those with both ends
    among the build's questions, and those that are not (a deleted post, an answer, a question
    of an older dump only), which are ignored."""
    if links is None or links.is_empty():
        return np.empty((0, 2), dtype=np.int64), {"duplicate_links": 0, "resolved": 0, "not_in_build": 0}
    links = links.unique(["site", "post_id", "related_post_id"])
    index = questions.select("site", "question_id").with_row_index("i")
    ends = links.join(index.rename({"question_id": "post_id"}), on=["site", "post_id"], how="left").join(
        index.rename({"question_id": "related_post_id", "i": "j"}), on=["site", "related_post_id"], how="left")
    resolved = ends.filter(pl.col("i").is_not_null() & pl.col("j").is_not_null() & (pl.col("i") != pl.col("j")))
    pairs = resolved.select("i", "j").to_numpy().astype(np.int64).reshape(-1, 2)
    return pairs, {"duplicate_links": links.height, "resolved": resolved.height,
                   "not_in_build": links.height - resolved.height}


def route_questions(questions: pl.DataFrame, newest: dict[str, str], buckets: int,
                    params: near_dup.MinHashParams | None, links: pl.DataFrame | None = None) -> tuple[pl.DataFrame, dict]:
    """Bucket per question: questions with the same text hash, an LSH band in common that their
    sketches make plausible (unverified, so possibly more than a final cluster), or a duplicate
    link between them go to one bucket, where they are verified (`params` None: no LSH). Returns (site, question_id, bucket, link_group) and the
    duplicate-link counts (see `duplicate_link_pairs`); link_group is null for a question without links."""
    questions = (
        questions.filter(is_current(newest))
        .unique(["site", "question_id"], keep="first")
        .sort("site", "question_id")
    )
    n = questions.height
    linked, link_stats = duplicate_link_pairs(questions, links)
    pairs = [near_dup.equal_value_pairs(questions["text_hash"].to_numpy()), linked]
    if params is not None and n:
        width = questions["bands"].list.len().max()
        candidates = near_dup.candidate_pairs(near_dup.widen_keys(questions["bands"].list.to_array(width).to_numpy()))
        sketches = questions["sketch"].list.to_array(params.num_perm).to_numpy()
        pairs.append(candidates[near_dup.plausible(candidates, sketches, questions["shingles"].to_numpy(), params)])
    edges = np.concatenate(pairs)
    labels = near_dup.union_find(n, edges)
    sites, ids = questions["site"].to_list(), questions["question_id"].to_list()
    representative = {label: seeded_unit(0, f"{sites[label]}/{ids[label]}") for label in np.unique(labels).tolist()}
    bucket = [int(representative[label] * buckets) for label in labels.tolist()]
    groups = near_dup.union_find(n, linked)
    in_group = np.zeros(n, dtype=bool)
    in_group[linked.ravel()] = True
    link_group = pl.Series("link_group", groups, dtype=pl.Int64).set(pl.Series(~in_group), None)
    return questions.select("site", "question_id", bucket=pl.Series(bucket, dtype=pl.Int32), link_group=link_group), \
        link_stats
