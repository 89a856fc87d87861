"""Near-duplicate detection (stackpref.steps.near_dup): the hashing is pinned, one-permutation MinHash
tracks the true Jaccard (short texts too, where densification does most of the work), LSH candidates
are verified by the merge rule before anything merges, and it works on real questions."""

import random
import re
from pathlib import Path

import numpy as np
import pytest

from stackpref.errors import ConfigError
from stackpref.steps import near_dup
from stackpref.steps.clusters import cluster_texts
from stackpref.steps.near_dup import (
    SENTINEL,
    SENTINEL32,
    MinHashParams,
    band_keys,
    candidate_pairs,
    char_shingles,
    jaccard,
    pair_jaccard,
    pair_overlap,
    shingle_hashes,
    signatures,
    union_find,
)
from stackpref.steps.text import html_to_md, normalize_for_hash

SHARED_SITES = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"

# A made-up vocabulary of four-letter words.
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
        ({"max_changed": -1}, "MinHashParams.max_changed must be an integer >= 0; got -1"),
        ({"bands": 64, "rows": 65}, "MinHashParams: bands x rows must be <= 4096; got 4160"),
    ],
)
def test_params_validation_names_the_value(kwargs, message):
    with pytest.raises(ConfigError) as err:
        MinHashParams(**kwargs)
    assert str(err.value) == message


def test_candidate_probability_and_lsh_threshold():
    params = MinHashParams()
    assert params.num_perm == 128
    assert params.lsh_threshold == pytest.approx((1 / 32) ** (1 / 4)) == pytest.approx(0.420, abs=1e-3)
    # Every pair the merge rule can accept (J >= the floor, 0.6) is a candidate 98.8% of the time.
    assert params.floor == 0.6 and params.candidate_probability(0.6) == pytest.approx(0.9882, abs=1e-4)
    assert params.candidate_probability(0.7) == pytest.approx(0.99985, abs=1e-5)
    assert params.candidate_probability(0.2) == pytest.approx(0.0500, abs=1e-4)
    assert params.candidate_probability(0.0) == 0.0 and params.candidate_probability(1.0) == 1.0
    assert MinHashParams(bands=20, rows=2).candidate_probability(0.6) == pytest.approx(1 - 0.64**20)
    with pytest.raises(ValueError, match="jaccard must be in"):
        params.candidate_probability(1.5)


def test_merge_rule_takes_few_changed_shingles_or_a_high_jaccard_never_below_the_floor():
    params = MinHashParams()
    inter = np.array([130, 90, 500, 9000, 11, 0, 6])
    union = np.array([190, 150, 1000, 9900, 20, 0, 10])
    # J: 0.68 with 60 changed; 0.6 with 60; 0.5 with 500; 0.91 with 900; 0.55 with 9; empty; 0.6 with 4
    assert params.near(inter, union).tolist() == [True, True, False, True, False, False, True]
    assert MinHashParams(max_changed=59).near(inter[:2], union[:2]).tolist() == [False, False]
    assert MinHashParams(threshold=0.5).near(inter[2:5], union[2:5]).tolist() == [True, True, True]


# --- hashing: pinned, stable, code points of the normalized text --------------------------------

_M = (1 << 64) - 1


def _mix(z: int) -> int:
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


def reference_shingles(text: str, ngram: int) -> set[int]:
    """The documented definition, one shingle at a time in plain Python."""
    codes = [ord(c) for c in near_dup.near_dup_text(text)]
    out = set()
    for i in range(max(len(codes) - ngram + 1, 1) if codes else 0):
        h = 0
        for x in codes[i : i + ngram]:
            h = (h * 0x9E3779B97F4A7C15 + x) & _M
        out.add(_mix(h))
    return out


def test_shingles_follow_the_documented_definition():
    rng = random.Random(3)
    vocab = ["a", "Bé", "ﬁx", "x" * 20, "日本語", "ÇAVA", "😀", "naïve", "ΣΑΣ", "v60?"]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randrange(0, 14))) for _ in range(200)]
    for ngram in (1, 3, 5):
        for text in texts:
            got = shingle_hashes(text, ngram)
            assert got.dtype == np.uint64 and np.all(got[1:] > got[:-1])  # sorted, unique
            assert set(got.tolist()) == reference_shingles(text, ngram), (text, ngram)
            assert len(set(char_shingles(text, ngram))) == len(got)


def test_shingle_edge_cases():
    assert shingle_hashes("", 5).dtype == np.uint64 and len(shingle_hashes(" \n\t ", 5)) == 0
    # Fewer characters than ngram: one shingle of all of them, which is the 4-gram of the same text.
    assert shingle_hashes("Brew", 5).tolist() == shingle_hashes("brew", 4).tolist()
    assert char_shingles("Brew", 5) == ["brew"] and char_shingles("", 5) == []
    assert len(shingle_hashes("abcdef", 5)) == 2
    assert len(shingle_hashes("xxxxxxxx", 5)) == 1  # repeats collapse
    assert shingle_hashes("abcde", 5).tolist() != shingle_hashes("edcba", 5).tolist()  # order matters


def test_duplicate_notices_are_left_out():
    body = "How long should a pour-over bloom before the main pour, and does it change with roast?"
    notices = [
        "> **Possible Duplicate:**\\\n> [Some older question](http://example.invalid/questions/1/x)\n\n",
        ("> **This question already has answers here**:\n>\n> - [An older one](/questions/1/x) (2 answers)\n"
         "> Closed 3 years ago.\n\n"),
        "> **Possible Duplicates:**\n> [One](/q/1)\n> [Two](/q/2)\n\n",
    ]
    for notice in notices:
        assert near_dup.near_dup_text(notice + body) == near_dup.near_dup_text(body)
        assert shingle_hashes(notice + body, 5).tolist() == shingle_hashes(body, 5).tolist()
    quoted = "> A quote the asker wrote\n\n" + body  # other quotes stay
    assert near_dup.near_dup_text(quoted) != near_dup.near_dup_text(body)


def test_hashes_are_stable_across_versions():
    # Signatures and cluster ids depend on these values: a change here must bump MINHASH_VERSION.
    text = "What grind size for a V60? Medium-fine, like table salt."
    hashes = shingle_hashes(text, 5)
    assert len(hashes) == 52 and hashes[:3].tolist() == [632149027173843241, 791214461383250253, 1265701452752199606]
    assert signatures([text], MinHashParams())[0, :6].tolist() == [
        3820011720, 2902772155, 430748922, 6555220, 3820011720, 1407688327,
    ]
    assert shingle_hashes("Brew", 5).tolist() == [1607507674788778962]
    assert near_dup.MINHASH_VERSION == "minhash-v2+norm-v1"


def test_signatures_identical_for_identical_and_case_or_space_only_changes():
    rng = random.Random(1)
    text = " ".join(words(rng, 120))
    variants = [text, text.upper(), "  " + text.replace(" ", " \n\t ") + "\r\n", text.title()]
    sigs = signatures(variants + [" ".join(words(rng, 120))], MinHashParams())
    assert sigs.shape == (5, 128) and sigs.dtype == np.uint32 and SENTINEL32 not in sigs
    for row in sigs[1:4]:
        assert np.array_equal(row, sigs[0])
    # Texts of one small made-up vocabulary share many character 5-grams; the estimate tracks that.
    other = " ".join(words(random.Random(1), 240)[120:])
    assert abs(estimate(sigs[0], sigs[4]) - jaccard(shingle_hashes(text, 5), shingle_hashes(other, 5))) < 0.14
    assert np.array_equal(signatures(variants, MinHashParams()), sigs[:4])  # deterministic
    assert not np.array_equal(signatures(variants[:1], MinHashParams(seed=2))[0], sigs[0])


def test_batches_do_not_change_signatures(monkeypatch):
    rng = random.Random(5)
    texts = [" ".join(words(rng, rng.randrange(0, 60))) for _ in range(50)]
    whole = signatures(texts, MinHashParams())
    monkeypatch.setattr(near_dup, "DOC_BATCH", 7)
    assert np.array_equal(signatures(texts, MinHashParams()), whole)
    one_by_one = np.vstack([signatures([t], MinHashParams()) for t in texts])
    assert np.array_equal(one_by_one, whole)


# --- the MinHash estimate tracks the true Jaccard -------------------------------------------------


@pytest.mark.parametrize(("n_words", "fraction"), [(300, 0.01), (300, 0.05), (300, 0.2), (25, 0.04), (25, 0.1),
                                                (8, 0.15)])
def test_minhash_estimate_tracks_true_jaccard(n_words, fraction):
    """Long texts fill every bin; a 25-word text (about 120 shingles) leaves about 50 of 128 bins
    empty and an 8-word one about 90, which densification fills."""
    params = MinHashParams()
    rng = random.Random(n_words * 1000 + int(fraction * 1000))
    errors = []
    for _ in range(10):
        base = words(rng, n_words)
        a, b = " ".join(base), " ".join(edit(rng, base, fraction))
        true = jaccard(shingle_hashes(a, 5), shingle_hashes(b, 5))
        sigs = signatures([a, b], params)
        errors.append(estimate(sigs[0], sigs[1]) - true)
    # 128 bins: standard error sqrt(J(1-J)/128) <= 0.045, so 0.14 is three of them.
    assert max(map(abs, errors)) <= 0.14, errors


@pytest.mark.parametrize("n_words", [300, 20])
def test_minhash_estimate_is_unbiased_over_many_pairs(n_words):
    rng = random.Random(11)
    pairs = []
    for _ in range(60):
        base = words(rng, n_words)
        pairs.append((" ".join(base), " ".join(edit(rng, base, 0.1))))
    sigs = signatures([t for pair in pairs for t in pair], MinHashParams())
    errors = [
        estimate(sigs[2 * i], sigs[2 * i + 1]) - jaccard(shingle_hashes(a, 5), shingle_hashes(b, 5))
        for i, (a, b) in enumerate(pairs)
    ]
    assert abs(np.mean(errors)) < 0.02  # about 3 standard errors of a mean of 60
    assert 0.01 < np.std(errors) < 0.07  # at most sqrt(0.25 / 128) = 0.044


# --- LSH pieces on hand-made input ------------------------------------------------------------


def test_band_keys_match_equal_bands_and_mark_empty_texts():
    params = MinHashParams(bands=3, rows=2)
    sigs = np.array(
        [[1, 2, 3, 4, 5, 6], [1, 2, 9, 9, 5, 6], [2, 1, 3, 4, 0, 0], [SENTINEL32] * 6], dtype=np.uint32
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


def test_pair_overlap_and_jaccard_equal_the_sets():
    rng = random.Random(4)
    texts = [" ".join(words(rng, rng.randrange(0, 30))) for _ in range(120)]
    texts += [t.upper() for t in texts[:20]]
    pairs = np.array([(i, j) for i in range(len(texts)) for j in range(len(texts)) if rng.random() < 0.03])
    for ngram in (1, 2):
        sets = [shingle_hashes(t, ngram) for t in texts]
        expected = [jaccard(sets[i], sets[j]) for i, j in pairs]
        assert pair_jaccard(texts, pairs, ngram).tolist() == expected
        inter, union = pair_overlap(texts, pairs, ngram)
        assert inter.tolist() == [len(np.intersect1d(sets[i], sets[j])) for i, j in pairs]
        assert union.tolist() == [len(np.union1d(sets[i], sets[j])) for i, j in pairs]
    assert jaccard(np.array([1, 2, 3], dtype=np.uint64), np.array([2, 3, 4, 4], dtype=np.uint64)) == 0.5
    assert jaccard(np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64)) == 0.0


# --- clustering ----------------------------------------------------------------------------


def test_near_duplicates_merge_and_unrelated_texts_stay_apart():
    rng = random.Random(8)
    bases = [words(rng, 250) for _ in range(12)] + [words(rng, 12) for _ in range(4)]
    texts = [" ".join(b) for b in bases]
    for base in (2, 5, 9, 13):  # long texts and a 12-word one: two words changed in each
        changed = list(bases[base])
        for i in (1, len(changed) - 2):
            changed[i] = "zz" + changed[i]
        texts.append(" ".join(changed))
    texts.append(texts[5].upper().replace(" ", "  "))  # case and spacing only: the same text hash
    texts += ["", "   "]  # no shingles: never an LSH candidate; equal after normalization, so one hash

    labels, stats = cluster_texts(texts, MinHashParams())
    assert labels.dtype == np.int64
    assert labels.tolist() == list(range(16)) + [2, 5, 9, 13, 5, 21, 21]
    # Candidates exclude pairs already joined by their hash (5 and its case-only copy, the two empties);
    # 5's edited copy verifies against both of them.
    assert stats["verified_pairs"] == 5 and stats["clusters_merged"] == 5 and stats["largest_cluster"] == 3


def test_candidates_that_fail_verification_do_not_merge():
    rng = random.Random(9)
    base = words(rng, 200)
    texts = [" ".join(base), " ".join(edit(rng, base, 0.12)), " ".join(words(rng, 200))]
    inter, union = pair_overlap(texts, np.array([[0, 1]]), 5)  # J = 0.77, 193 shingles differ
    assert 0.6 < inter[0] / union[0] < 0.9 and union[0] - inter[0] > 60
    labels, stats = cluster_texts(texts, MinHashParams())
    assert stats["candidate_pairs"] >= 1 and stats["verified_pairs"] == 0
    assert labels.tolist() == [0, 1, 2]
    # The same pair merges once the rule admits it: verification, not LSH, decided.
    labels, stats = cluster_texts(texts, MinHashParams(max_changed=int(union[0] - inter[0])))
    assert labels.tolist() == [0, 0, 2] and stats["verified_pairs"] == 1


def test_no_texts():
    labels, stats = cluster_texts([], MinHashParams())
    assert labels.shape == (0,) and stats["documents"] == 0 and stats["largest_cluster"] == 0
    assert signatures([], MinHashParams()).shape == (0, 128)


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
    """Long real questions with two sentences swapped and three words changed (the short reposts of
    one or two words are tests/test_near_dup_reposts.py's)."""
    from lxml import etree

    questions = []
    for site in ("quantumcomputing-2018", "matheducators-2014"):  # no cross-dump copies among them
        for _, row in etree.iterparse(str(SHARED_SITES / site / "Posts.xml"), tag="row"):
            if row.get("PostTypeId") == "1":
                questions.append((row.get("Title") or "") + "\n\n" + html_to_md(row.get("Body") or ""))
            row.clear()
    rng = random.Random(0)
    sizes = [len(normalize_for_hash(q).split()) for q in questions]
    long = [q for q, n in zip(questions, sizes) if n >= 350]
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
    assert truth.min() >= params.threshold and truth.max() < 1, truth

    labels, stats = cluster_texts(texts, params)
    recall = np.mean([labels[a] == labels[b] for a, b in planted])
    assert recall == 1.0, (recall, stats)
    # Every other pair that ended in one cluster passes the merge rule itself (no chaining here).
    members = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    together = np.array([(a, b) for m in members for i, a in enumerate(m) for b in m[i + 1 :]]).reshape(-1, 2)
    planted_set = {tuple(sorted(p)) for p in planted}
    others_together = np.array([p for p in together.tolist() if tuple(p) not in planted_set]).reshape(-1, 2)
    assert params.near(*pair_overlap(texts, others_together, params.ngram)).all()


def test_narrow_band_keys_keep_the_sentinel_apart():
    from stackpref.steps.near_dup import SENTINEL, narrow_keys, widen_keys

    keys = np.array([[SENTINEL, 5, (7 << 32) | 0xFFFFFFFF]], dtype=np.uint64)
    narrow = narrow_keys(keys)
    assert narrow.dtype == np.uint32 and narrow.tolist() == [[0xFFFFFFFF, 5, 0xFFFFFFFE]]
    assert widen_keys(narrow).tolist() == [[int(SENTINEL), 5, 0xFFFFFFFE]]


def test_sketch_screen_keeps_near_pairs_and_drops_chance_candidates():
    """The plan's screen (near_dup.plausible) on real-looking edits: pairs the merge rule accepts pass
    it, and texts sharing about half their shingles (chance LSH candidates) do not."""
    rng = random.Random(12)
    params = MinHashParams()
    texts, near, far = [], [], []
    for n_words, fraction, bucket in [(25, 0.04, near), (300, 0.01, near), (300, 0.3, far), (40, 0.5, far)]:
        for _ in range(30):
            base = words(rng, n_words)
            texts += [" ".join(base), " ".join(edit(rng, base, fraction))]
            bucket.append((len(texts) - 2, len(texts) - 1))
    _, sketches, sizes = near_dup.lsh_keys(texts, params)
    assert sketches.shape == (len(texts), 128) and sketches.dtype == np.uint8
    near, far = np.array(near), np.array(far)
    accepted = near[params.near(*pair_overlap(texts, near, 5))]
    assert len(accepted) >= 55 and near_dup.plausible(accepted, sketches, sizes, params).all()
    assert not params.near(*pair_overlap(texts, far, 5)).any()
    assert near_dup.plausible(far, sketches, sizes, params).mean() < 0.1
