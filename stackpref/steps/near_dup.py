"""The MinHash + LSH math of near-duplicate questions, vectorized with numpy, deterministic, no torch.

The flow (steps/clusters.py runs it: `band_keys_of` in pass 1, `verified_clusters` in pass 3):

    text ─> words ─> word 5-gram hashes ─> 112 MinHash values ─> 14 band keys ─> candidate pairs
         ─> true Jaccard >= threshold (verified pairs) ─> connected components (clusters)

Everything that could be stored is stable across runs, machines and library versions: words are
hashed with xxh3 (never Python's `hash()`, never polars' `hash`), and everything after that is fixed
uint64 arithmetic in numpy (wrapping mod 2^64 the same way everywhere). The permutation
coefficients come from xxh3 too, not from numpy's random generators, whose streams numpy does not
promise to keep across versions. Bump `MINHASH_VERSION` when any of this changes.

Hash family (the "permutations"). Each shingle's 64-bit hash gives a 32-bit key x (its top 32
bits), and permutation j is Dietzfelbinger's (1996) multiply-add-shift family:

    h_j(x) = (a_j * x + b_j) mod 2^64,    a_j odd, b_j any 64-bit value.

For uniform a, b the top 32 bits of h_j are a strongly universal (pairwise independent) hash of a
32-bit key; forcing a odd, which makes the map injective on 32-bit keys (equal signature values
always mean the same shingle), at most doubles any collision probability. The keys are already
xxh3 outputs (high entropy), and then 2-independence is enough for MinHash estimates that behave
like fully random permutations (Mitzenmacher & Vadhan 2008, "Why simple hash functions work"); the
property tests in tests/test_near_dup.py check the estimate against the true Jaccard. It costs one
multiply and one add per shingle per permutation, in uint64 without any overflow hazard: the
wrap-around mod 2^64 is the definition, not a bug. The usual `(a*x + b) mod (2^61 - 1)` needs a
128-bit product, which numpy does not have; computed in uint64 it silently overflows (a known trap
of numpy MinHash ports). Two different shingles of one pair of texts share a 32-bit key with
probability about |A||B| / 2^32 (2e-5 for two 300-shingle texts), which moves the estimate by one
shingle at most; verification uses the full 64-bit hashes.

Band keys fold each band's `rows` values into one uint64 (multiply-add, then splitmix64's
finalizer, after each value; numpy over all texts at once). Candidate pairs come from sorting each
band's keys; buckets bigger than BUCKET_WINDOW are paired over a sliding window, not all pairs.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from stackpref.errors import ConfigError
from stackpref.steps.text import NORMALIZATION_VERSION, normalize_for_hash

# Signatures, band keys and cluster labels depend on this scheme and on the text normalization.
MINHASH_VERSION = f"minhash-v1+{NORMALIZATION_VERSION}"

# Marks "no value": the signature of a text without shingles, and the band key that never matches.
SENTINEL = np.uint64(np.iinfo(np.uint64).max)

# LSH buckets can be huge when many texts share a band (boilerplate, templates, exact copies that
# escaped exact dedup). All pairs of a bucket of s texts is s(s-1)/2 candidates; instead every text
# is paired with the next BUCKET_WINDOW - 1 texts of its bucket (in index order). A bucket of up to
# BUCKET_WINDOW texts still yields all its pairs, a bigger one at most s * (BUCKET_WINDOW - 1), and
# consecutive members stay linked, so a bucket of copies still ends up as one chain (one cluster).
BUCKET_WINDOW = 64

# Texts per batch inside `signatures`: bounds the memory of the flattened shingles (a few MB).
DOC_BATCH = 2048

# Set lookups per step of `_pair_jaccard` (512 KB arrays): bounds its memory on many pairs and
# keeps each step's arrays in cache (measured 1.5x faster than 1M lookups a step).
_LOOKUPS_PER_STEP = 1 << 16

# Shingles per block of the (permutations x shingles) product: 112 x 8192 uint64 is 7 MB, which
# measured fastest here (small blocks pay numpy's per-call overhead, big ones fall out of cache).
SHINGLE_BLOCK = 8192

_U64 = np.uint64
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)  # splitmix64's finalizer
_GOLDEN = _U64(0x9E3779B97F4A7C15)  # odd (2^64 / golden ratio): the base of the n-gram polynomial


@dataclass(frozen=True)
class MinHashParams:
    """MinHash + LSH settings for near-duplicate questions.

    The defaults follow datatrove's (14 bands of 8 rows, 112 permutations) and keep their math:

    - LSH threshold, where the S-curve is steepest: (1/b)^(1/r) = (1/14)^(1/8) ≈ 0.719.
    - A pair with true Jaccard J becomes a candidate with P = 1 - (1 - J^r)^b:
      J=0.5 -> 0.053, J=0.6 -> 0.211, J=0.7 -> 0.564, J=0.8 -> 0.924, J=0.85 -> 0.988, J=0.9 -> 0.9995.
      So about 7.6% of pairs right at the 0.8 threshold are missed, 1.2% at 0.85, and pairs below
      0.6 are rarely even looked at; those that are get rejected by the true-Jaccard check.
    - 112 permutations estimate a Jaccard with standard error sqrt(J(1-J)/112) <= 0.047.
    """

    ngram: int = 5  # words per shingle: 5-grams are specific enough that unrelated texts share few
    bands: int = 14
    rows: int = 8  # rows per band; bands * rows permutations
    threshold: float = 0.8  # true Jaccard of the shingle sets at or above which two texts merge
    seed: int = 1  # picks the permutations; signatures from different seeds are not comparable

    def __post_init__(self) -> None:
        for name in ("ngram", "bands", "rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"MinHashParams.{name} must be an integer >= 1; got {value!r}")
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold <= 1:
            raise ConfigError(f"MinHashParams.threshold must be in (0, 1]; got {self.threshold!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ConfigError(f"MinHashParams.seed must be an integer in [0, 2^64); got {self.seed!r}")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def lsh_threshold(self) -> float:
        """Jaccard where the candidate probability rises fastest: (1/bands)^(1/rows)."""
        return (1 / self.bands) ** (1 / self.rows)

    def candidate_probability(self, jaccard: float) -> float:
        """Probability that two texts with this true Jaccard share at least one band: 1-(1-J^r)^b."""
        if not 0 <= jaccard <= 1:
            raise ValueError(f"jaccard must be in [0, 1]; got {jaccard!r}")
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: a bijection of uint64 that spreads every input bit."""
    z ^= z >> _U64(30)
    z *= _MIX1
    z ^= z >> _U64(27)
    z *= _MIX2
    z ^= z >> _U64(31)
    return z


# XXH3-64 (seed 0) of inputs of 1 to 16 bytes, vectorized: the reference algorithm's three short
# paths (XXH3_len_1to3_64b, _4to8_, _9to16_ in xxhash.h), reading the first 56 bytes of its default
# secret. tests/test_near_dup.py checks every length against the xxhash package, byte for byte.
# Longer words (rare: URLs, code) are hashed by the xxhash package one by one.
_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248e"
)
_S32 = np.frombuffer(_SECRET, dtype="<u4").astype(np.uint64)
_S64 = np.frombuffer(_SECRET, dtype="<u8").astype(np.uint64)
_FLIP_1TO3 = _S32[0] ^ _S32[1]
_FLIP_4TO8 = _S64[1] ^ _S64[2]
_FLIP_9TO16 = (_S64[3] ^ _S64[4], _S64[5] ^ _S64[6])
_PRIME64_2, _PRIME64_3 = _U64(0xC2B2AE3D27D4EB4F), _U64(0x165667B19E3779F9)
_PRIME_MX1, _PRIME_MX2 = _U64(0x165667919E3779F9), _U64(0x9FB21C651E98DF25)
_LOW32 = _U64(0xFFFFFFFF)


def _mul128_fold64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a * b as 128 bits) low half XOR high half, from 32-bit limbs (XXH_mult64to128's portable form)."""
    a_lo, a_hi, b_lo, b_hi = a & _LOW32, a >> _U64(32), b & _LOW32, b >> _U64(32)
    lo_lo, hi_lo, lo_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi
    cross = (lo_lo >> _U64(32)) + (hi_lo & _LOW32) + lo_hi  # < 2^64: cannot wrap
    upper = (hi_lo >> _U64(32)) + (cross >> _U64(32)) + a_hi * b_hi
    lower = (cross << _U64(32)) | (lo_lo & _LOW32)
    return lower ^ upper


def _xxh3_words(blob: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """xxhash.xxh3_64_intdigest(blob[s:s+n]) for every (s, n), n >= 1, as uint64."""
    padded = blob + bytes(8)  # every 8-byte read below stays inside the buffer
    u8 = np.frombuffer(padded, dtype=np.uint8)
    # Little-endian 32- and 64-bit words starting at every byte (unaligned, strided views, no copy).
    le32 = np.ndarray((len(padded) - 3,), dtype="<u4", buffer=padded, strides=(1,))
    le64 = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    out = np.empty(len(starts), dtype=np.uint64)
    n = lengths.astype(np.uint64)

    pick = np.flatnonzero(lengths <= 3)
    if len(pick):
        s, ln = starts[pick], lengths[pick]
        c1, c2, c3 = u8[s].astype(np.uint64), u8[s + (ln >> 1)].astype(np.uint64), u8[s + ln - 1].astype(np.uint64)
        h = ((c1 << _U64(16)) | (c2 << _U64(24)) | c3 | (n[pick] << _U64(8))) ^ _FLIP_1TO3
        h ^= h >> _U64(33)  # XXH64_avalanche
        h *= _PRIME64_2
        h ^= h >> _U64(29)
        h *= _PRIME64_3
        h ^= h >> _U64(32)
        out[pick] = h

    pick = np.flatnonzero((lengths >= 4) & (lengths <= 8))
    if len(pick):
        s, ln = starts[pick], lengths[pick]
        h = (le32[s + ln - 4].astype(np.uint64) + (le32[s].astype(np.uint64) << _U64(32))) ^ _FLIP_4TO8
        h ^= ((h << _U64(49)) | (h >> _U64(15))) ^ ((h << _U64(24)) | (h >> _U64(40)))  # XXH3_rrmxmx
        h *= _PRIME_MX2
        h ^= (h >> _U64(35)) + n[pick]
        h *= _PRIME_MX2
        h ^= h >> _U64(28)
        out[pick] = h

    pick = np.flatnonzero((lengths >= 9) & (lengths <= 16))
    if len(pick):
        s, ln = starts[pick], lengths[pick]
        lo = le64[s].astype(np.uint64) ^ _FLIP_9TO16[0]
        hi = le64[s + ln - 8].astype(np.uint64) ^ _FLIP_9TO16[1]
        h = n[pick] + lo.byteswap() + hi + _mul128_fold64(lo, hi)
        h ^= h >> _U64(37)  # XXH3_avalanche
        h *= _PRIME_MX1
        h ^= h >> _U64(32)
        out[pick] = h

    for i in np.flatnonzero(lengths > 16).tolist():
        out[i] = xxhash.xxh3_64_intdigest(blob[starts[i] : starts[i] + lengths[i]])
    return out


def _shingle_batch(texts: Sequence[str], ngram: int):
    """Shingle hashes of a batch, flattened: (hashes uint64, offsets int64 of len(texts) + 1).

    Text d owns hashes[offsets[d]:offsets[d+1]]; repeats within a text are kept (MinHash ignores
    them). A text of L words has L - ngram + 1 shingles, or one of all its words when 0 < L < ngram.
    """
    normalized = [normalize_for_hash(t) for t in texts]
    # normalize_for_hash leaves single spaces between words and none at the ends, and UTF-8 never
    # uses the byte 0x20 inside a character: splitting the joined bytes at spaces gives str.split().
    n_words = np.array([s.count(" ") + 1 if s else 0 for s in normalized], dtype=np.int64)
    blob = " ".join(s for s in normalized if s).encode("utf-8")
    spaces = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == 32)
    word_begin = np.concatenate([[0], spaces + 1]) if blob else np.empty(0, dtype=np.int64)
    word_end = np.append(spaces, len(blob)) if blob else np.empty(0, dtype=np.int64)
    word_hashes = _xxh3_words(blob, word_begin, word_end - word_begin)
    word_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(n_words, out=word_starts[1:])

    n_shingles = np.where(n_words >= ngram, n_words - ngram + 1, np.minimum(n_words, 1))
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(n_shingles, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.empty(0, dtype=np.uint64), offsets
    # A shingle's hash is mix(sum_k w_k * G^(m-1-k)) over its m word hashes w_k: a polynomial
    # in an odd constant (order-sensitive; two different word sequences agree with probability
    # about 2^-64 since the w_k are xxh3 outputs), then splitmix64 to spread every bit. Computed
    # once at every word position over the whole batch with shifted slices, no gathers.
    n_all = len(word_hashes)
    padded = np.append(word_hashes, np.zeros(ngram - 1, dtype=np.uint64))
    window = padded[:n_all].copy()
    for k in range(1, ngram):  # a loop over the n-gram's words; each step covers every position
        window *= _GOLDEN
        window += padded[k : n_all + k]
    first_word = np.repeat(word_starts[:-1] - offsets[:-1], n_shingles) + np.arange(total)
    h = _mix(window[first_word])
    short = np.flatnonzero((n_words > 0) & (n_words < ngram))
    if len(short):  # texts of fewer words than ngram: one shingle of the words they have
        first, width = word_starts[short], n_words[short]
        g = padded[first]
        for k in range(1, int(width.max())):
            g = np.where(k < width, g * _GOLDEN + padded[first + k], g)
        h[offsets[short]] = _mix(g)
    return h, offsets


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for large integer arrays: numpy >= 2.3 answers np.unique(x) with a hash table
    that measured 45x slower than sorting here (3.0 s vs 0.07 s for 1.3M uint64)."""
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """Sorted unique uint64 hashes of the word n-grams of normalize_for_hash(text).split().

    A text shorter than `ngram` words gives one shingle of all its words; an empty text, none.
    """
    if ngram < 1:
        raise ConfigError(f"ngram must be >= 1; got {ngram!r}")
    hashes, _ = _shingle_batch([text], ngram)
    return _sorted_unique(hashes)


def _permutations(params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the num_perm permutations, from xxh3 of fixed labels and the seed (stable)."""
    a = [xxhash.xxh3_64_intdigest(f"minhash-a-{j}".encode(), seed=params.seed) | 1 for j in range(params.num_perm)]
    b = [xxhash.xxh3_64_intdigest(f"minhash-b-{j}".encode(), seed=params.seed) for j in range(params.num_perm)]
    return np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)


def _minhash(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(offsets) - 1, num_perm) signatures of flattened shingle hashes; SENTINEL rows for none."""
    n_docs, num_perm = len(offsets) - 1, len(a)
    out = np.full((n_docs, num_perm), SENTINEL, dtype=np.uint64)
    has = np.flatnonzero(offsets[1:] > offsets[:-1])
    if len(has) == 0:
        return out
    starts = offsets[:-1][has]  # strictly increasing: these texts tile `hashes` without gaps
    keys = hashes >> _U64(32)  # the 32-bit key of each shingle (see the module docstring)
    sub = np.empty((len(has), num_perm), dtype=np.uint64)
    sub.fill(SENTINEL)
    buffer = np.empty((num_perm, SHINGLE_BLOCK), dtype=np.uint64)
    a_col, b_col = a[:, None], b[:, None]
    for lo in range(0, len(keys), SHINGLE_BLOCK):
        hi = min(lo + SHINGLE_BLOCK, len(keys))
        block = buffer[:, : hi - lo]
        np.multiply(a_col, keys[None, lo:hi], out=block)
        block += b_col
        # The texts that own shingles in [lo, hi); the first may have started in an earlier block.
        first = int(np.searchsorted(starts, lo, side="right")) - 1
        stop = int(np.searchsorted(starts, hi, side="left"))
        local = np.maximum(starts[first:stop], lo) - lo
        mins = np.minimum.reduceat(block, local, axis=1)
        np.minimum(sub[first:stop], mins.T, out=sub[first:stop])
    out[has] = sub
    return out


def signatures(texts: Sequence[str], params: MinHashParams) -> np.ndarray:
    """MinHash signatures, shape (len(texts), bands * rows), uint64.

    A text without shingles (empty after normalization) gets SENTINEL in every column; its band
    keys are SENTINEL too and `candidate_pairs` never pairs it.
    """
    out = np.empty((len(texts), params.num_perm), dtype=np.uint64)
    a, b = _permutations(params)
    for lo in range(0, len(texts), DOC_BATCH):  # DOC_BATCH texts at a time bounds the shingles in memory
        hashes, offsets = _shingle_batch(texts[lo : lo + DOC_BATCH], params.ngram)
        out[lo : lo + DOC_BATCH] = _minhash(hashes, offsets, a, b)
    return out


def band_keys(sigs: np.ndarray, params: MinHashParams) -> np.ndarray:
    """One uint64 key per band, shape (n, bands): the band's `rows` values folded with splitmix64.

    A band of SENTINEL values (a text without shingles) gets the key SENTINEL, and no real band
    does (a real key equal to SENTINEL becomes SENTINEL - 1). Two different bands share a key with
    probability 2^-64; such a false candidate is rejected by verification anyway.
    """
    sigs = np.asarray(sigs, dtype=np.uint64)
    if sigs.ndim != 2 or sigs.shape[1] != params.num_perm:
        raise ValueError(f"signatures must have shape (n, {params.num_perm}); got {sigs.shape}")
    bands = sigs.reshape(len(sigs), params.bands, params.rows)
    key = np.full((len(sigs), params.bands), _U64(params.rows), dtype=np.uint64)
    for r in range(params.rows):
        key = _mix(key * _GOLDEN + bands[:, :, r])
    key[key == SENTINEL] = SENTINEL - _U64(1)
    key[(bands == SENTINEL).all(axis=2)] = SENTINEL
    return key


_SENTINEL32 = np.uint32(0xFFFFFFFF)


def narrow_keys(keys: np.ndarray) -> np.ndarray:
    """Band keys stored as uint32, a quarter of the signature's memory per question. A collision the
    narrower key adds (about n^2 / 2^33 per band) is only one more candidate, rejected by the
    Jaccard check; SENTINEL stays the sentinel (a real key that would collide with it is moved)."""
    narrow = (np.asarray(keys, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    narrow[narrow == _SENTINEL32] -= np.uint32(1)
    narrow[np.asarray(keys) == SENTINEL] = _SENTINEL32
    return narrow


def widen_keys(narrow: np.ndarray) -> np.ndarray:
    """uint32 band keys back to `candidate_pairs`' uint64, the sentinel included."""
    keys = np.asarray(narrow, dtype=np.uint32).astype(np.uint64)
    keys[narrow == _SENTINEL32] = SENTINEL
    return keys


def candidate_pairs(keys: np.ndarray, window: int = BUCKET_WINDOW) -> np.ndarray:
    """Pairs (i, j), i < j, of rows that share a key in any band: shape (m, 2) int64, sorted, unique.

    Per band, rows are sorted by key (stable, so each bucket lists its rows in index order) and
    every row is paired with the next `window - 1` rows of its bucket: all pairs of a bucket of up
    to `window` rows, a sliding window over bigger ones (see BUCKET_WINDOW). SENTINEL keys never pair.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    if keys.ndim != 2:
        raise ValueError(f"keys must have shape (n, bands); got {keys.shape}")
    if window < 2:
        raise ValueError(f"window must be >= 2; got {window}")
    n = len(keys)
    codes = []
    for band in keys.T:
        order = np.argsort(band, kind="stable")
        ranked = band[order]
        valid = int(np.searchsorted(ranked, SENTINEL, side="left"))  # SENTINEL sorts last
        ranked, order = ranked[:valid], order[:valid]
        if valid < 2:
            continue
        new_run = np.empty(valid, dtype=bool)
        new_run[0] = True
        np.not_equal(ranked[1:], ranked[:-1], out=new_run[1:])
        run_starts = np.flatnonzero(new_run)
        run_ends = np.append(run_starts[1:], valid)
        run_end = np.repeat(run_ends, run_ends - run_starts)  # end of each position's bucket
        position = np.arange(valid)
        partners = np.minimum(run_end - position, window) - 1
        total = int(partners.sum())
        if total == 0:
            continue
        left = np.repeat(position, partners)
        starts = np.cumsum(partners) - partners
        right = left + 1 + (np.arange(total) - np.repeat(starts, partners))
        codes.append(order[left].astype(np.int64) * n + order[right])
    if not codes:
        return np.empty((0, 2), dtype=np.int64)
    code = _sorted_unique(np.concatenate(codes))
    return np.stack([code // n, code % n], axis=1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """True Jaccard |A ∩ B| / |A ∪ B| of two sets of shingle hashes (0.0 when both are empty)."""
    a, b = _sorted_unique(np.asarray(a).ravel()), _sorted_unique(np.asarray(b).ravel())
    union = len(a) + len(b)
    if union == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (union - inter)


def pair_jaccard(texts: Sequence[str], pairs: np.ndarray, ngram: int) -> np.ndarray:
    """True shingle Jaccard of each pair (i, j) of `texts`, float64, vectorized over the pairs.

    Only the texts named in `pairs` are shingled, and all pairs are answered by one sort and one
    searchsorted (see `_pair_jaccard`); equal to `jaccard` on each pair but for a chance of about
    |A||B| / 2^40 or less.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return np.empty(0, dtype=np.float64)
    if pairs.min() < 0 or pairs.max() >= len(texts):
        raise ValueError(f"pairs must index 0..{len(texts) - 1}; got values from {pairs.min()} to {pairs.max()}")
    docs = _sorted_unique(pairs.ravel())
    hashes, offsets = _shingle_batch([texts[int(d)] for d in docs], ngram)
    return _pair_jaccard(np.searchsorted(docs, pairs), hashes, offsets)


def _pair_jaccard(pairs: np.ndarray, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Jaccard of pairs of the texts of flattened shingles (hashes, offsets; repeats allowed).

    Each text gets a block of sorted set codes `(text << 64-t) | (shingle >> t)`, t = the bits
    needed to number the texts, all made by one np.sort. The smaller set of every pair is then
    looked up in the larger one's block: its codes get the larger text's prefix, and one
    searchsorted per step answers 64k lookups. The codes keep 64-t bits of each shingle hash
    (>= 40 bits up to 16M texts): two different shingles of one pair agree on them with
    probability about |A||B| / 2^(64-t), 3e-7 for two 300-shingle texts among 16M texts, so the
    result equals `jaccard` but for that.
    """
    n_docs = len(offsets) - 1
    shift = _U64(max(int(n_docs - 1).bit_length(), 1))
    owner = np.repeat(np.arange(n_docs, dtype=np.uint64), np.diff(offsets))
    codes = _sorted_unique((owner << (_U64(64) - shift)) | (hashes >> shift))  # per text: its sorted set
    set_owner = (codes >> (_U64(64) - shift)).astype(np.int64)
    sizes = np.bincount(set_owner, minlength=n_docs)
    set_starts = np.cumsum(sizes) - sizes

    first_smaller = sizes[pairs[:, 0]] <= sizes[pairs[:, 1]]
    small = np.where(first_smaller, pairs[:, 0], pairs[:, 1])
    large = np.where(first_smaller, pairs[:, 1], pairs[:, 0])
    # Pairs in order of (large, small): a step's lookups then all land in one contiguous run of
    # `codes` (the blocks of its range of large texts), small enough to stay in cache, and come
    # nearly ascending. Measured 8x faster than random order over the whole array.
    order = np.lexsort((small, large))
    small, large = small[order], large[order]
    counts = sizes[small]
    reach = np.cumsum(counts)
    # A small-side code becomes its lookup key by swapping its text's prefix for the large side's.
    rekey = (large.astype(np.uint64) - small.astype(np.uint64)) << (_U64(64) - shift)
    # One code past the end: a run of blocks then always has a next element, never equal to a key.
    codes = np.append(codes, SENTINEL)
    inter = np.zeros(len(pairs), dtype=np.int64)
    lo = 0
    while lo < len(pairs):
        done = int(reach[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(reach, done + _LOOKUPS_PER_STEP, side="right")), lo + 1)
        c = counts[lo:hi]
        ends = np.cumsum(c)
        member = np.repeat(set_starts[small[lo:hi]] - (ends - c), c)
        member += np.arange(len(member))
        key = codes[member]
        key += np.repeat(rekey[lo:hi], c)
        run = codes[set_starts[large[lo]] : set_starts[large[hi - 1]] + sizes[large[hi - 1]] + 1]
        hits = np.zeros(len(key) + 1, dtype=np.int64)
        np.cumsum(run[np.searchsorted(run, key)] == key, out=hits[1:])
        inter[lo:hi] = hits[ends] - hits[ends - c]
        lo = hi
    inter[order] = inter.copy()
    union = sizes[pairs[:, 0]] + sizes[pairs[:, 1]] - inter
    return np.divide(inter, union, out=np.zeros(len(pairs)), where=union > 0)


def equal_value_pairs(values: np.ndarray) -> np.ndarray:
    """Pairs (i, j) linking rows with equal values into chains (each to the next in index order):
    enough for union_find to join them, without listing every pair of a large group."""
    order = np.argsort(values, kind="stable")
    run = np.flatnonzero(values[order][1:] == values[order][:-1])
    return np.stack([order[run], order[run + 1]], axis=1).astype(np.int64)


def union_find(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of n nodes under `pairs` (m, 2): label = smallest index in the component.

    Vectorized hook-and-shortcut (Shiloach-Vishkin style): every round, each root adjacent to a
    smaller root hooks onto the smallest such root, then pointer jumping flattens the trees.
    Parents only ever point to smaller indices, so the root of a component is its smallest member;
    the number of roots per component at least halves each round (O(log n) rounds).
    """
    parent = np.arange(n, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) == 0:
        return parent
    if pairs.min() < 0 or pairs.max() >= n:
        raise ValueError(f"pairs must index 0..{n - 1}; got values from {pairs.min()} to {pairs.max()}")
    i, j = pairs[:, 0], pairs[:, 1]
    while True:
        ri, rj = parent[i], parent[j]
        differ = ri != rj
        if not differ.any():
            return parent
        ri, rj = ri[differ], rj[differ]
        np.minimum.at(parent, np.maximum(ri, rj), np.minimum(ri, rj))
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
