"""Near-duplicate detection (stackpref.steps.near_dup): the hashing is pinned, MinHash tracks the true
Jaccard, LSH candidates are verified before anything merges, and it works on real questions."""

import random
import re
from pathlib import Path

import numpy as np
import pytest
import xxhash

from stackpref.errors import ConfigError
from stackpref.steps import near_dup
from stackpref.steps.clusters import cluster_texts
from stackpref.steps.near_dup import (
    SENTINEL,
    MinHashParams,
    band_keys,
    candidate_pairs,
    jaccard,
    pair_jaccard,
    shingle_hashes,
    signatures,
    union_find,
)
from stackpref.steps.text import html_to_md, normalize_for_hash

SHARED_SITES = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"

# A made-up vocabulary: texts drawn from it have (almost) no repeated 5-grams, so the expected
# Jaccard after editing a fraction p of the words has a closed form (see test_minhash_estimate...).
VOCAB = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti", "vo", "ze") for b in (
    "ba", "do", "fi", "gu", "ha", "je", "ki", "lu", "mo", "ne", "po", "qu", "ri", "sa", "te", "vi", "wo",
    "xa", "yu", "zo")]  # 200 words


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def edit(rng: random.Random, text_words: list[str], fraction: float) -> list[str]:
    """Replace round(fraction * len) distinct positions with a different vocabulary word."""
    out = list(text_words)
    for i in rng.sample(range(len(out)), round(fraction * len(out))):
        out[i] = rng.choice([w for w in VOCAB if w != out[i]])
    return out


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float((sig_a == sig_b).mean())


# --- configuration and the math kept beside the defaults -------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ngram": 0}, "MinHashParams.ngram must be an integer >= 1; got 0"),
        ({"bands": -2}, "MinHashParams.bands must be an integer >= 1; got -2"),
        ({"rows": 2.5}, "MinHashParams.rows must be an integer >= 1; got 2.5"),
        ({"threshold": 0}, "MinHashParams.threshold must be in (0, 1]; got 0"),
        ({"threshold": 1.2}, "MinHashParams.threshold must be in (0, 1]; got 1.2"),
        ({"seed": -1}, "MinHashParams.seed must be an integer in [0, 2^64); got -1"),
    ],
)
def test_params_validation_names_the_value(kwargs, message):
    with pytest.raises(ConfigError) as err:
        MinHashParams(**kwargs)
    assert str(err.value) == message


def test_candidate_probability_and_lsh_threshold():
    params = MinHashParams()
    assert params.num_perm == 112
    assert params.lsh_threshold == pytest.approx((1 / 14) ** (1 / 8)) == pytest.approx(0.719, abs=1e-3)
    assert params.candidate_probability(0.8) == pytest.approx(0.9235, abs=1e-4)  # datatrove's 0.924
    assert params.candidate_probability(0.85) == pytest.approx(0.9884, abs=1e-4)
    assert params.candidate_probability(0.5) == pytest.approx(0.0533, abs=1e-4)
    assert params.candidate_probability(0.0) == 0.0 and params.candidate_probability(1.0) == 1.0
    assert MinHashParams(bands=20, rows=2).candidate_probability(0.6) == pytest.approx(1 - 0.64**20)
    with pytest.raises(ValueError, match="jaccard must be in"):
        params.candidate_probability(1.5)


# --- hashing: pinned, stable, xxh3 of the words ------------------------------------------------

_M = (1 << 64) - 1


def _mix(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


def reference_shingles(text: str, ngram: int) -> set[int]:
    """The documented definition, one shingle at a time in plain Python."""
    w = [xxhash.xxh3_64_intdigest(x.encode()) for x in normalize_for_hash(text).split()]
    out = set()
    for i in range(max(len(w) - ngram + 1, 1) if w else 0):
        h = 0
        for x in w[i : i + ngram]:
            h = (h * 0x9E3779B97F4A7C15 + x) & _M
        out.add(_mix(h))
    return out


def test_vectorized_xxh3_equals_xxhash_for_every_length():
    rng = random.Random(7)
    pieces = [bytes(rng.choice(b"abcXYZ019-_.") for _ in range(n)) for n in range(1, 41) for _ in range(25)]
    pieces += [w.encode() for w in ("é", "日本", "ﬁ", "naïve", "😀x", "Σσς", "über-groß")]
    blob = b" ".join(pieces)
    starts = np.cumsum([0] + [len(p) + 1 for p in pieces[:-1]])
    got = near_dup._xxh3_words(blob, starts, np.array([len(p) for p in pieces]))
    assert got.tolist() == [xxhash.xxh3_64_intdigest(p) for p in pieces]


def test_shingles_follow_the_documented_definition():
    rng = random.Random(3)
    vocab = ["a", "Bé", "ﬁx", "x" * 20, "日本語", "ÇAVA", "😀", "naïve", "ΣΑΣ", "v60?"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randrange(0, 14))) for _ in range(200)]
    for ngram in (1, 3, 5):
        for text in texts:
            got = shingle_hashes(text, ngram)
            assert got.dtype == np.uint64 and np.all(got[1:] > got[:-1])  # sorted, unique
            assert set(got.tolist()) == reference_shingles(text, ngram), (text, ngram)


def test_shingle_edge_cases():
    assert shingle_hashes("", 5).dtype == np.uint64 and len(shingle_hashes(" \n\t ", 5)) == 0
    # Fewer words than ngram: one shingle of all of them, which is the 2-gram of the same words.
    assert shingle_hashes("Cold brew", 5).tolist() == shingle_hashes("cold brew", 2).tolist()
    assert len(shingle_hashes("a b c d e f", 5)) == 2
    assert len(shingle_hashes("x x x x x x x x", 5)) == 1  # repeats collapse
    assert shingle_hashes("a b c d e", 5).tolist() != shingle_hashes("e d c b a", 5).tolist()  # order matters


def test_hashes_are_stable_across_versions():
    # Signatures and cluster ids depend on these values: a change here must bump MINHASH_VERSION.
    text = "What grind size for a V60? Medium-fine, like table salt."
    assert shingle_hashes(text, 5).tolist() == [
        1720139586091418061, 6430564000405227626, 10065043525931830965,
        11672936144681253943, 15781653135128001189, 16325268122275798587,
    ]
    assert signatures([text], MinHashParams())[0, :4].tolist() == [
        2488952746987387200, 7349396194866293051, 1728406681764099175, 9079156988600440874,
    ]
    assert shingle_hashes("Cold brew", 5).tolist() == [12725016254477462550]
    assert near_dup.MINHASH_VERSION == "minhash-v1+norm-v1"


def test_signatures_identical_for_identical_and_case_or_space_only_changes():
    rng = random.Random(1)
    text = " ".join(words(rng, 120))
    variants = [text, text.upper(), "  " + text.replace(" ", " \n\t ") + "\r\n", text.title()]
    sigs = signatures(variants + [" ".join(words(rng, 120))], MinHashParams())
    assert sigs.shape == (5, 112) and sigs.dtype == np.uint64
    for row in sigs[1:4]:
        assert np.array_equal(row, sigs[0])
    assert estimate(sigs[0], sigs[4]) < 0.05
    assert np.array_equal(signatures(variants, MinHashParams()), sigs[:4])  # deterministic
    assert not np.array_equal(signatures(variants[:1], MinHashParams(seed=2))[0], sigs[0])


def test_batches_do_not_change_signatures(monkeypatch):
    rng = random.Random(5)
    texts = [" ".join(words(rng, rng.randrange(0, 60))) for _ in range(50)]
    whole = signatures(texts, MinHashParams())
    monkeypatch.setattr(near_dup, "DOC_BATCH", 7)
    monkeypatch.setattr(near_dup, "SHINGLE_BLOCK", 13)  # texts straddle blocks
    assert np.array_equal(signatures(texts, MinHashParams()), whole)
    one_by_one = np.vstack([signatures([t], MinHashParams()) for t in texts])
    assert np.array_equal(one_by_one, whole)


# --- the MinHash estimate tracks the true Jaccard -------------------------------------------------


@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.05, 0.1, 0.2, 0.3])
def test_minhash_estimate_tracks_true_jaccard(fraction):
    params = MinHashParams()
    rng = random.Random(int(fraction * 1000))
    base = words(rng, 300)
    edited = edit(rng, base, fraction)
    true = jaccard(shingle_hashes(" ".join(base), 5), shingle_hashes(" ".join(edited), 5))
    # A 5-gram survives when none of its 5 words was edited: q = (1-p)^5 of each side's shingles
    # are shared, so J = q / (2 - q) on average; over 200 seeds its spread is at most 0.024.
    q = (1 - fraction) ** 5
    assert true == pytest.approx(q / (2 - q), abs=0.08)
    sigs = signatures([" ".join(base), " ".join(edited)], params)
    # 112 permutations: standard error sqrt(J(1-J)/112) <= 0.047, so 0.1 is over two of them.
    assert abs(estimate(sigs[0], sigs[1]) - true) <= 0.1


def test_minhash_estimate_is_unbiased_over_many_pairs():
    rng = random.Random(11)
    pairs = []
    for _ in range(40):
        base = words(rng, 300)
        pairs.append((" ".join(base), " ".join(edit(rng, base, 0.1))))
    sigs = signatures([t for pair in pairs for t in pair], MinHashParams())
    errors = [
        estimate(sigs[2 * i], sigs[2 * i + 1]) - jaccard(shingle_hashes(a, 5), shingle_hashes(b, 5))
        for i, (a, b) in enumerate(pairs)
    ]
    assert abs(np.mean(errors)) < 0.025  # 3 standard errors of a mean of 40
    assert 0.025 < np.std(errors) < 0.07  # sqrt(0.42 * 0.58 / 112) = 0.047


# --- LSH pieces on hand-made input ------------------------------------------------------------


def test_band_keys_match_equal_bands_and_mark_empty_texts():
    params = MinHashParams(bands=3, rows=2)
    sigs = np.array(
        [[1, 2, 3, 4, 5, 6], [1, 2, 9, 9, 5, 6], [2, 1, 3, 4, 0, 0], [SENTINEL] * 6], dtype=np.uint64
    )
    keys = band_keys(sigs, params)
    assert keys.shape == (4, 3) and keys.dtype == np.uint64
    assert keys[0, 0] == keys[1, 0] and keys[0, 2] == keys[1, 2] and keys[0, 1] != keys[1, 1]
    assert keys[0, 0] != keys[2, 0]  # the same values in another order are another band
    assert keys[0, 1] == keys[2, 1]
    assert keys[3].tolist() == [int(SENTINEL)] * 3 and SENTINEL not in keys[:3]
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        band_keys(sigs[:, :4], params)


def test_candidate_pairs_hand_made():
    s = int(SENTINEL)
    keys = np.array([[5, 1], [5, 2], [7, 3], [5, 4], [s, 1], [s, s]], dtype=np.uint64)
    # band 0: rows 0, 1, 3 share 5; band 1: rows 0 and 4 share 1; SENTINEL keys never pair.
    assert candidate_pairs(keys).tolist() == [[0, 1], [0, 3], [0, 4], [1, 3]]
    assert candidate_pairs(keys[:, :0]).shape == (0, 2)
    # A bucket bigger than the window pairs each row with the next window - 1 rows only.
    bucket = np.full((6, 1), 42, dtype=np.uint64)
    assert candidate_pairs(bucket, window=3).tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3], [2, 4],
                                                          [3, 4], [3, 5], [4, 5]]
    assert len(candidate_pairs(bucket)) == 15  # within the default window: all pairs


def test_union_find_hand_made():
    pairs = np.array([[6, 7], [2, 5], [5, 1], [7, 3], [4, 4]])
    assert union_find(8, pairs).tolist() == [0, 1, 1, 3, 4, 1, 3, 3]
    # A chain given from its far end needs several hook-and-jump rounds.
    chain = np.array([[i, i + 1] for i in range(30, 0, -1)])
    assert union_find(32, chain).tolist() == [0] + [1] * 31
    assert union_find(3, np.empty((0, 2), dtype=np.int64)).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="pairs must index 0..2"):
        union_find(3, np.array([[0, 3]]))


def test_union_find_equals_a_plain_union_find():
    rng = random.Random(2)
    n = 400
    pairs = np.array([(rng.randrange(n), rng.randrange(n)) for _ in range(300)])
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    assert union_find(n, pairs).tolist() == [find(i) for i in range(n)]


def test_pair_jaccard_equals_jaccard():
    rng = random.Random(4)
    texts = [" ".join(words(rng, rng.randrange(0, 30))) for _ in range(120)]
    texts += [t.upper() for t in texts[:20]]
    pairs = np.array([(i, j) for i in range(len(texts)) for j in range(len(texts)) if rng.random() < 0.03])
    for ngram in (1, 2):
        sets = [shingle_hashes(t, ngram) for t in texts]
        expected = [jaccard(sets[i], sets[j]) for i, j in pairs]
        assert pair_jaccard(texts, pairs, ngram).tolist() == expected
    assert jaccard(np.array([1, 2, 3], dtype=np.uint64), np.array([2, 3, 4, 4], dtype=np.uint64)) == 0.5
    assert jaccard(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64)) == 0.0


# --- clustering ----------------------------------------------------------------------------


def test_near_duplicates_merge_and_unrelated_texts_stay_apart():
    rng = random.Random(8)
    bases = [words(rng, 250) for _ in range(12)]
    texts = [" ".join(b) for b in bases]
    for base in (2, 5, 9):
        changed = list(bases[base])
        for i in (20, 100, 200):  # three words changed: J = (246 - 15) / (246 + 15) = 0.885
            changed[i] = "zz" + changed[i]
        texts.append(" ".join(changed))
        assert jaccard(shingle_hashes(texts[base], 5), shingle_hashes(texts[-1], 5)) >= 0.85
    texts.append(texts[5].upper().replace(" ", "  "))  # case and spacing only: the same text hash
    texts += ["", "   "]  # no shingles: never an LSH candidate; equal after normalization, so one hash

    labels, stats = cluster_texts(texts, MinHashParams())
    assert labels.dtype == np.int64
    assert labels.tolist() == list(range(12)) + [2, 5, 9, 5, 16, 16]
    # Candidates exclude pairs already joined by their hash (5 and its case-only copy, the two empties).
    assert stats == {"documents": 18, "candidate_pairs": 4, "verified_pairs": 4, "clusters_merged": 4,
                     "largest_cluster": 3}


def test_candidates_that_fail_verification_do_not_merge():
    rng = random.Random(9)
    base = words(rng, 200)
    texts = [" ".join(base), " ".join(edit(rng, base, 0.05)), " ".join(words(rng, 200))]
    j = jaccard(shingle_hashes(texts[0], 5), shingle_hashes(texts[1], 5))
    assert 0.55 < j < 0.7
    # 20 bands of 2 rows make a J=0.6 pair a candidate with probability 1 - 0.64^20 > 0.9999.
    loose = MinHashParams(bands=20, rows=2, threshold=0.8)
    labels, stats = cluster_texts(texts, loose)
    assert stats["candidate_pairs"] >= 1 and stats["verified_pairs"] == 0
    assert labels.tolist() == [0, 1, 2]
    # The same pair merges once the threshold admits it: verification, not LSH, decided.
    labels, stats = cluster_texts(texts, MinHashParams(bands=20, rows=2, threshold=0.55))
    assert labels.tolist() == [0, 0, 2] and stats["verified_pairs"] == 1


def test_no_texts():
    labels, stats = cluster_texts([], MinHashParams())
    assert labels.shape == (0,) and stats["documents"] == 0 and stats["largest_cluster"] == 0
    assert signatures([], MinHashParams()).shape == (0, 112)


# --- real questions ------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def plant(text: str, rng: random.Random) -> str | None:
    """Swap two adjacent sentences and change three words; None if the text has no two sentences."""
    sentences = _SENTENCE_END.split(text)
    if len(sentences) < 3:
        return None
    i = rng.randrange(len(sentences) - 1)
    sentences[i], sentences[i + 1] = sentences[i + 1], sentences[i]
    tokens = " ".join(sentences).split()
    for k in rng.sample(range(len(tokens)), 3):
        tokens[k] = f"planted{k}"
    return " ".join(tokens)


@pytest.mark.skipif(
    not SHARED_SITES.is_dir(), reason=f"{SHARED_SITES} is absent: the real dumps live beside the checkout"
)
def test_real_questions_planted_near_duplicates_are_found():
    from lxml import etree

    questions = []
    for site in ("quantumcomputing-2018", "matheducators-2014"):  # no cross-dump copies among them
        for _, row in etree.iterparse(str(SHARED_SITES / site / "Posts.xml"), tag="row"):
            if row.get("PostTypeId") == "1":
                questions.append((row.get("Title") or "") + "\n\n" + html_to_md(row.get("Body") or ""))
            row.clear()
    rng = random.Random(0)
    sizes = [len(normalize_for_hash(q).split()) for q in questions]
    long = [q for q, n in zip(questions, sizes) if n >= 350]  # a swap + 3 words keep J >= ~0.85
    others = [q for q, n in zip(questions, sizes) if 20 <= n < 350]
    sources = rng.sample(long, 40)
    originals = sources + rng.sample(others, 160)
    planted = []  # (index of the planted text, index of its source)
    texts = list(originals)
    for index, source in enumerate(sources):
        copy = plant(source, rng)
        if copy is not None and len(planted) < 20:
            planted.append((len(texts), index))
            texts.append(copy)
    assert len(planted) == 20

    params = MinHashParams()
    truth = pair_jaccard(texts, np.array(planted), params.ngram)
    assert truth.min() >= 0.8 and truth.max() < 1 and np.median(truth) >= 0.85, truth

    labels, stats = cluster_texts(texts, params)
    recall = np.mean([labels[a] == labels[b] for a, b in planted])
    assert recall >= 0.9, (recall, stats)
    # Every other pair that ended in one cluster is a real near duplicate by its true Jaccard.
    members = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    together = np.array([(a, b) for m in members for i, a in enumerate(m) for b in m[i + 1 :]]).reshape(-1, 2)
    planted_set = {tuple(sorted(p)) for p in planted}
    others_together = np.array([p for p in together.tolist() if tuple(p) not in planted_set]).reshape(-1, 2)
    assert (pair_jaccard(texts, others_together, params.ngram) >= params.threshold).all()


def test_narrow_band_keys_keep_the_sentinel_apart():
    from stackpref.steps.near_dup import SENTINEL, narrow_keys, widen_keys

    keys = np.array([[SENTINEL, 5, (7 << 32) | 0xFFFFFFFF]], dtype=np.uint64)
    narrow = narrow_keys(keys)
    assert narrow.dtype == np.uint32 and narrow.tolist() == [[0xFFFFFFFF, 5, 0xFFFFFFFE]]
    assert widen_keys(narrow).tolist() == [[int(SENTINEL), 5, 0xFFFFFFFE]]
