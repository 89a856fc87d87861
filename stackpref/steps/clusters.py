"""Question clusters: the one near-duplicate path, used by the build and by benchmarks/near_dup.py.

Pass 1 computes each question's LSH keys (`lsh_keys_of`); the plan keeps candidates that the
keys' sketches make plausible together (pipeline/plan.py); pass 3 verifies, within a bucket,
every candidate pair by its true shingle Jaccard and joins questions into clusters
(`verified_clusters`). A cluster is what the split assigns: no member of one ever lands in another
split.
"""

from collections import Counter
from dataclasses import replace

import numpy as np
import polars as pl

from stackpref.steps import near_dup
from stackpref.steps.bucket import Bucket, Context
from stackpref.steps.text import text_hash

# Lengths bound the Jaccard (J <= shorter/longer); the slack covers whitespace that normalization
# collapses and repeated shingles.
_LENGTH_SLACK = 0.8


def lsh_keys_of(texts: list[str], params: near_dup.MinHashParams | None) -> pl.DataFrame:
    """Each text's pass-1 keys (see near_dup.lsh_keys): band keys stored narrow (near_dup.narrow_keys),
    sketch, shingle count; empty band lists and no sketch when near-duplicate detection is off."""
    if params is None or not texts:
        return pl.DataFrame({"bands": pl.Series([[] for _ in texts], dtype=pl.List(pl.UInt32)),
                             "sketch": pl.Series([None] * len(texts), dtype=pl.List(pl.UInt8)),
                             "shingles": pl.Series([0] * len(texts), dtype=pl.Int64)})
    keys, sketches, sizes = near_dup.lsh_keys(texts, params)
    # From the 2-D arrays, without Python lists.
    return pl.DataFrame({"bands": pl.Series(near_dup.narrow_keys(keys)).cast(pl.List(pl.UInt32)),
                         "sketch": pl.Series(sketches).cast(pl.List(pl.UInt8)), "shingles": pl.Series(sizes)})


def could_reach(texts: pl.Series, pairs: np.ndarray, params: near_dup.MinHashParams) -> np.ndarray:
    """Pairs whose lengths allow the least Jaccard that can merge: a cheap screen before shingling."""
    length = texts.str.len_chars().to_numpy().astype(np.float64) + 1
    a, b = length[pairs[:, 0]], length[pairs[:, 1]]
    return np.minimum(a, b) / np.maximum(a, b) >= params.floor * _LENGTH_SLACK


def verified_clusters(texts: pl.Series, hashes: np.ndarray, bands: pl.Series,
                      params: near_dup.MinHashParams | None,
                      link_groups: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Cluster labels (the smallest index of each text's cluster): equal text hashes, LSH
    candidates (texts sharing a band key) whose exact shingle sets pass `params.near`, and texts
    in one duplicate-link group (`link_groups`: a label per text, negative for none). With `params`
    None only equal hashes and links join. Stats: candidate_pairs, verified_pairs, and the merges
    (a cluster joined to another) made by text and those made only by links."""
    n = len(hashes)
    edges = [near_dup.equal_value_pairs(hashes)]
    candidates = verified = 0
    if params is not None and n > 1:
        width = bands.list.len().max()
        found = near_dup.candidate_pairs(near_dup.widen_keys(bands.list.to_array(width).to_numpy()))
        found = found[hashes[found[:, 0]] != hashes[found[:, 1]]]  # exact ones are already edges
        found = found[could_reach(texts, found, params)]
        similar = near_dup.near_pairs(texts.to_list(), found, params)
        candidates, verified = len(found), int(similar.sum())
        edges.append(found[similar])
    by_text = near_dup.union_find(n, np.concatenate(edges).astype(np.int64))
    labels = by_text
    if link_groups is not None and (link_groups >= 0).any():
        linked = np.flatnonzero(link_groups >= 0)
        pairs = linked[near_dup.equal_value_pairs(link_groups[linked])]
        labels = near_dup.union_find(n, np.concatenate([*edges, pairs]).astype(np.int64))
    components_by_text, components = len(np.unique(by_text)), len(np.unique(labels))
    return labels, {"candidate_pairs": candidates, "verified_pairs": verified,
                    "merged_by_text": n - components_by_text, "merged_by_links": components_by_text - components}


def cluster_texts(texts: list[str], params: near_dup.MinHashParams) -> tuple[np.ndarray, dict]:
    """What a build does to the questions of one bucket, from their texts: the pass-1 keys (text
    hash, band keys), then `verified_clusters`. Labels, and stats: documents, candidate_pairs,
    verified_pairs, clusters_merged (clusters of 2+ texts), largest_cluster. For benchmarks and tests."""
    series = pl.Series("text", texts, dtype=pl.String)
    hashes = np.array([text_hash(t) for t in texts], dtype=np.int64)
    labels, stats = verified_clusters(series, hashes, lsh_keys_of(texts, params)["bands"], params)
    sizes = np.bincount(labels, minlength=len(texts))
    return labels, {"documents": len(texts), "candidate_pairs": stats["candidate_pairs"],
                    "verified_pairs": stats["verified_pairs"], "clusters_merged": int((sizes > 1).sum()),
                    "largest_cluster": int(sizes.max()) if len(texts) else 0}


def cluster_id(hashes: pl.Series) -> pl.Series:
    """A cluster's id: its first question's text hash in hex (a lone question's own hash)."""
    return pl.Series([f"{h & 0xFFFFFFFFFFFFFFFF:016x}" for h in hashes.to_list()], dtype=pl.String)


def cluster_questions(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Adds cluster_id and cluster_size to every question; drops none. Clusters join near-duplicate
    texts and questions that the site's duplicate links join."""
    questions = bucket.questions
    hashes = questions["question_hash"].to_numpy()
    params = context.config.minhash_params() if context.config.near_dup else None
    links = questions["link_group"].fill_null(-1).to_numpy() if context.config.duplicate_links else None
    labels, stats = verified_clusters(questions["question_text"], hashes, questions["bands"], params, links)
    questions = questions.with_columns(
        cluster_id=cluster_id(pl.Series(hashes[labels])), _label=pl.Series(labels)
    ).with_columns(cluster_size=pl.len().over("_label")).drop("_label")
    return replace(bucket, questions=questions, stats={**bucket.stats, **stats}), Counter()


def keep_one_per_cluster(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """The keep-one policy: of each cluster, the question with the most answers (then the first)."""
    if context.config.near_dup_policy != "keep-one":
        return bucket, Counter()
    counts = bucket.answers.group_by("site", "question_id").len("n_answers")
    ranked = bucket.questions.join(counts, on=["site", "question_id"], how="left").with_columns(
        pl.col("n_answers").fill_null(0)
    )
    kept = ranked.sort(["cluster_id", "n_answers", "site", "question_id"], descending=[False, True, False, False]) \
        .unique("cluster_id", keep="first").drop("n_answers").sort("site", "question_id")
    return replace(bucket, questions=kept), Counter(near_duplicate_question=bucket.questions.height - kept.height)
