"""Question clusters: the one near-duplicate path, used by the build and by benchmarks/near_dup.py.

Pass 1 computes each question's LSH band keys (`band_keys_of`); pass 3 verifies, within a bucket,
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

# Word counts bound the Jaccard (J <= shorter/longer); the slack covers texts with repeated shingles.
_LENGTH_SLACK = 0.9


def band_keys_of(texts: list[str], params: near_dup.MinHashParams | None) -> pl.Series:
    """Each text's LSH band keys, stored narrow (see near_dup.narrow_keys); empty lists when
    near-duplicate detection is off."""
    if params is None or not texts:
        return pl.Series("bands", [[] for _ in texts], dtype=pl.List(pl.UInt32))
    keys = near_dup.narrow_keys(near_dup.band_keys(near_dup.signatures(texts, params), params))
    return pl.Series("bands", keys.tolist(), dtype=pl.List(pl.UInt32))


def could_reach(texts: pl.Series, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """Pairs whose word counts allow a Jaccard of `threshold`: a cheap screen before shingling."""
    words = texts.str.count_matches(r"\S+").to_numpy().astype(np.float64) + 1
    a, b = words[pairs[:, 0]], words[pairs[:, 1]]
    return np.minimum(a, b) / np.maximum(a, b) >= threshold * _LENGTH_SLACK


def verified_clusters(texts: pl.Series, hashes: np.ndarray, bands: pl.Series,
                      params: near_dup.MinHashParams | None) -> tuple[np.ndarray, dict]:
    """Cluster labels (the smallest index of each text's cluster): equal text hashes, and LSH
    candidates (texts sharing a band key) whose true shingle Jaccard reaches the threshold. With
    `params` None only equal hashes join. Stats: candidate_pairs, verified_pairs."""
    n = len(hashes)
    edges = [near_dup.equal_value_pairs(hashes)]
    candidates = verified = 0
    if params is not None and n > 1:
        width = bands.list.len().max()
        found = near_dup.candidate_pairs(near_dup.widen_keys(bands.list.to_array(width).to_numpy()))
        found = found[hashes[found[:, 0]] != hashes[found[:, 1]]]  # exact ones are already edges
        found = found[could_reach(texts, found, params.threshold)]
        similar = near_dup.pair_jaccard(texts.to_list(), found, params.ngram) >= params.threshold
        candidates, verified = len(found), int(similar.sum())
        edges.append(found[similar])
    labels = near_dup.union_find(n, np.concatenate(edges).astype(np.int64))
    return labels, {"candidate_pairs": candidates, "verified_pairs": verified}


def cluster_texts(texts: list[str], params: near_dup.MinHashParams) -> tuple[np.ndarray, dict]:
    """What a build does to the questions of one bucket, from their texts: the pass-1 keys (text
    hash, band keys), then `verified_clusters`. Labels, and stats: documents, candidate_pairs,
    verified_pairs, clusters_merged (clusters of 2+ texts), largest_cluster. For benchmarks and tests."""
    series = pl.Series("text", texts, dtype=pl.String)
    hashes = np.array([text_hash(t) for t in texts], dtype=np.int64)
    labels, stats = verified_clusters(series, hashes, band_keys_of(texts, params), params)
    sizes = np.bincount(labels, minlength=len(texts))
    return labels, {"documents": len(texts), **stats, "clusters_merged": int((sizes > 1).sum()),
                    "largest_cluster": int(sizes.max()) if len(texts) else 0}


def cluster_id(hashes: pl.Series) -> pl.Series:
    """A cluster's id: its first question's text hash in hex (a lone question's own hash)."""
    return pl.Series([f"{h & 0xFFFFFFFFFFFFFFFF:016x}" for h in hashes.to_list()], dtype=pl.String)


def cluster_questions(bucket: Bucket, context: Context) -> tuple[Bucket, Counter]:
    """Adds cluster_id and cluster_size to every question; drops none."""
    questions = bucket.questions
    hashes = questions["question_hash"].to_numpy()
    params = context.config.minhash_params() if context.config.near_dup else None
    labels, stats = verified_clusters(questions["question_text"], hashes, questions["bands"], params)
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
