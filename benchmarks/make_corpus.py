"""Generate a large synthetic Stack Exchange `Posts.xml` from the real dumps in ../shared, with
planted duplicate questions and their ground truth, for scale and dedup benchmarks.

    python benchmarks/make_corpus.py --out /tmp/corpus-500m --size-mb 500
    python benchmarks/make_corpus.py --out /tmp/corpus-multi --size-mb 200 --site-dirs
    stackpref build /tmp/corpus-500m --site /tmp/corpus-500m/Posts.xml=corpus.bench.invalid ...
                          (sources: corpus.json build_source; one --site per entry of build_sites)

The real dumps (../shared/data/stackexchange/<site>/Posts.xml, beside the checkout) are read at
run time; nothing from them is stored in the project. What is written goes under --out only:

  OUT/Posts.xml        one file in the real dump format (BOM, XML declaration, <posts>, one
                       `  <row .../>` a line, attributes escaped like the dumps), or, with
                       --site-dirs, OUT/sites/corpus1-2020/Posts.xml ... one folder per synthetic
                       site (under sites/, because `stackpref build` would take OUT's own .json and
                       .jsonl files for Hub-layout tables: build from OUT/sites)
  OUT/truth.jsonl      one line per planted question:
                       {"id", "source_id", "kind": "near"|"exact", "jaccard", "site", "source_site"}
  OUT/corpus.json      totals (bytes, questions, answers, copies, planted counts, seed, id scheme,
                       Jaccard distributions), where every id range came from (attribution), and
                       how to build it: build_source, and build_sites, the `--site PATH=HOST` of
                       each Posts.xml (BuildConfig(site=...)): corpus.bench.invalid, or with
                       --site-dirs corpus1.bench.invalid ..., hosts under the reserved TLD .invalid.
                       A build needs them: the copies keep the real posts' links to their own
                       questions, so the corpus would otherwise be taken for the first real site
                       it copies (and a site folder named corpus1-2020 names no host)

Sites. By default every <site> folder of --data except beer-2016: beer-2016 and beer-2017 are two
dumps of the same site, so most beer-2016 posts are also in beer-2017, and using both would add
real duplicate questions that truth.jsonl does not list. Name them in --sites to use both anyway.

How it is built. The output is a sequence of units, a unit being one copy k of one real site s, in
order copy 0 (all sites), copy 1, ... until --size-mb is crossed (the last unit is written whole, so
every ParentId / AcceptedAnswerId resolves). In a unit every Id, ParentId and AcceptedAnswerId is
shifted by k*2,000,000 + s*100,000, and every question gets a per-copy, per-question marker (a few
words appended to its Title and a `<p>Context k-id: ...</p>` paragraph appended to its Body) and
every answer a short `<p>Ref k-id.</p>`.

Copies are far apart. Copy 0 is the real text (plus the markers). In copy k >= 1 the text of every
Title and Body (questions, answers and the other post types) is perturbed, so that no two copies
of a question are near duplicates of each other (which truth.jsonl could not list):

  - a word is a run of ASCII letters, digits and underscores in text: never anything inside an
    HTML tag (names, attributes, href URLs), the name of an entity (&amp; &#x27;), a LaTeX command
    (\\frac), or part of a run with other word characters (café). Text inside <code>/<pre> is
    perturbed like any other text, its symbols and markup never.
  - ~--perturb-rate (default 0.22) of the words are replaced, stratified: the site's word
    positions go in blocks of 8, and a block has floor(8*rate + u) of its positions replaced
    (u uniform in [0, 1)), the ones with the smallest hash of (seed, copy, site, position); so
    short texts get their share too and most word 5-grams hold a replaced word.
  - a replaced word becomes copy k's variant of it: a word of the same class (letters only,
    digits only, mixed) of the real dumps' own vocabulary of about the same frequency (its rank r
    in the class moves by 1 to max(4, r/4) places, by a hash of (seed, copy, word)), with its case
    pattern (lower, Capitalized, UPPER) kept. Each copy thus has its own consistent "dialect",
    and word counts, word lengths, numbers-as-numbers and the frequency profile stay realistic.

Tags, entities and whitespace are kept byte for byte, so the HTML stays exactly as valid as the
source. The same real question then has a word-5-gram Jaccard of ~0.1 (p95 ~0.15) between copy 0
and a copy k, and ~0.02 (p95 ~0.05) between two perturbed copies; only texts of mostly symbols
(e.g. LaTeX matrices) reach ~0.3. corpus.json copy_jaccard gives the measured distribution (a
sample of questions, each rendered in two copies) and the run warns when its 95th percentile
reaches 0.3. Copies of one real question still share their id % 2,000,000 (the id scheme below),
which is how the attribution works; they are not duplicates.

Planted duplicates. In each unit, a fraction --near-dup-rate of its questions (among those with 60+
words) get a NEAR duplicate and --exact-dup-rate an EXACT duplicate, both made from the question's
text in that unit (its perturbed copy-k text and marker). NEAR: ~1-3% of its words replaced by words
from a fixed list and, half the time, two adjacent sentences of one paragraph swapped, edited until
the word 5-gram Jaccard with the source is as close as one-word steps allow to a target drawn from
[0.80, 0.95] (a step moves it by ~10/shingles, so short texts land a little outside: about 0.75 to
0.98 with median ~0.87 on these dumps); EXACT: identical Title and Body. Each planted question gets
a new Id (in the range k*2,000,000 + 1,000,000 + s*100,000 + j) and copies of all its answers (their
copy-k text) with new Ids pointing to it (AcceptedAnswerId remapped). The planted posts of unit u are
written after unit (u + n//2) mod n, n being the number of units, so they sit far from their source
(before or after it); with --site-dirs that is usually another site folder.

Jaccard: of the sets of word 5-gram shingles of title + " " + body, body with HTML tags replaced by
spaces and entities unescaped, lowercased, split on whitespace (a text of under 5 words is one
shingle).

Deterministic for a given --seed and arguments. Memory stays flat: the dumps (~16 MB) are parsed
once (lxml iterparse, elements cleared) into per-row templates whose Title and Body are arrays of
interned pieces (words and the text between them); a unit is rendered by one numpy gather from a
per-copy table of pieces and written before the next one is made.
"""

import argparse
import html
import json
import operator
import random
import re
import statistics
import sys
import time
from array import array
from collections import OrderedDict
from pathlib import Path

import numpy as np
from lxml import etree

SITES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"

COPY_STRIDE = 2_000_000  # ids of copy k: k*COPY_STRIDE + ...
SITE_STRIDE = 100_000  # ... + s*SITE_STRIDE + original id (real ids are < 10,000)
PLANTED_BASE = 1_000_000  # planted posts: k*COPY_STRIDE + PLANTED_BASE + s*SITE_STRIDE + j
MAX_SITES = PLANTED_BASE // SITE_STRIDE
MIN_NEAR_WORDS = 60  # questions shorter than this are not given a near duplicate
NEAR_TARGET = (0.80, 0.95)
PERTURB_RATE = 0.22  # default share of the words replaced in copies k >= 1
PERTURB_BLOCK = 8  # ... chosen that many positions at a time (see Generator.selected)
COPY_JACCARD_SAMPLE = 200  # questions rendered in two copies to measure how far apart copies are
COPY_JACCARD_LIMIT = 0.3  # warn when the 95th percentile of that Jaccard reaches this
# Real dumps left out unless named in --sites, with the reason (shown in --help).
DEFAULT_EXCLUDE = {"beer-2016": "an older dump of the same site as beer-2017, whose posts are mostly in beer-2017 "
                                "too, so using both adds real duplicate questions that truth.jsonl does not list"}
CORPUS_DOMAIN = "bench.invalid"  # the corpora's hosts: a reserved TLD (RFC 6761), never a real site
DIR_NAMES = ("corpus1-2020", "corpus2-2021", "corpus3-2022", "corpus4-2023", "corpus5-2024",
             "corpus6-2019", "corpus7-2018", "corpus8-2017")

# Plain filler words for markers and near-duplicate substitutions (written for this script).
WORDS = tuple(["amber", "anchor", "apple", "arch", "arrow", "autumn", "badge", "bakery", "balance", "bamboo", "banner", "barrel", "basket", "beacon", "bell", "bench", "berry", "blanket", "blossom", "bottle", "branch", "breeze", "brick", "bridge", "bronze", "bubble", "bucket", "cabin", "cactus", "candle", "canyon", "canvas", "carpet", "castle", "cedar", "chalk", "channel", "cherry", "circle", "cliff", "clock", "cloud", "clover", "coast", "cobalt", "comet", "copper", "coral", "cotton", "crane", "crayon", "crystal", "current", "cushion", "daisy", "dawn", "delta", "desert", "dolphin", "dune", "eagle", "echo", "ember", "engine", "falcon", "feather", "fern", "field", "flame", "flint", "forest", "fountain", "fox", "garden", "garnet", "glacier", "glove", "granite", "grape", "gravel", "harbor", "harvest", "hazel", "helmet", "hill", "honey", "horizon", "island", "ivory", "jacket", "jasmine", "jungle", "kettle", "kite", "ladder", "lagoon", "lantern", "lemon", "lily", "linen", "lotus", "maple", "marble", "meadow", "melon", "mirror", "mist", "moss", "mountain", "needle", "nest", "oak", "ocean", "olive", "orchard", "otter", "paddle", "palm", "paper", "pebble", "pepper", "pillow", "pine", "planet", "plum", "pond", "poplar", "prairie", "quartz", "quill", "rabbit", "rain", "raven", "reed", "ribbon", "ridge", "river", "robin", "rocket", "saddle", "salmon", "sand", "satin", "shell", "shore", "silver", "sky", "slate", "snow", "sparrow", "spruce", "star", "stone", "storm", "straw", "stream", "summit", "sun", "swan", "thistle", "thunder", "tide", "timber", "torch", "tower", "trail", "tulip", "tunnel", "valley", "velvet", "violet", "walnut", "willow", "window", "winter", "wolf", "wool", "yarn"])

_TAG = re.compile(r"<[^>]*>")
_TAG_SPLIT = re.compile(r"(<[^>]*>)")
_WORD = re.compile(r"(?<![&#\w])[A-Za-z]{3,}\b")  # not the name inside an entity like &amp;
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Copy perturbation: a perturbable word is a run of ASCII letters, digits and underscores that is
# neither preceded by a word character, & or # (entity names: &amp; &#x27; &#39;) or a backslash
# (LaTeX commands) nor followed by a word character (so nothing of café). In a Body, every tag is
# first replaced by _TAG_MARK (a character XML cannot hold), so nothing inside a tag (names,
# attributes, URLs in href) is ever a word; the Title is plain text.
_PIECE_WORD = re.compile(r"((?<![&#\\\w])[A-Za-z0-9_]+(?!\w))")
_TAG_MARK, _SEP = "\x01", "\x00"
_MASK = (1 << 64) - 1


def esc(value: str) -> str:
    """Escape an attribute value the way the dumps do: & < > " and newlines as &#xA;."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", "&#xA;").replace("\r", "&#xD;").replace("\t", "&#x9;"))


def mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, stateless, well-spread hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


_U30, _U27, _U31 = np.uint64(30), np.uint64(27), np.uint64(31)
_C0, _C1, _C2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64_np(x: np.ndarray) -> np.ndarray:
    """mix64 of every element of a uint64 array (wrapping arithmetic)."""
    x = x + _C0
    x = (x ^ (x >> _U30)) * _C1
    x = (x ^ (x >> _U27)) * _C2
    return x ^ (x >> _U31)


def marker_words(seed: int, post_id: int, n: int) -> list[str]:
    h = mix64(seed * 0x100000001B3 ^ post_id)
    out = []
    for _ in range(n):
        h, i = divmod(h, len(WORDS))
        out.append(WORDS[i])
    return out


def tokens(title: str, body: str) -> list[str]:
    return (title + " " + html.unescape(_TAG.sub(" ", body))).lower().split()


def shingles(toks: list[str]) -> set:
    if len(toks) < 5:
        return {tuple(toks)}
    return set(zip(toks, toks[1:], toks[2:], toks[3:], toks[4:]))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def text_jaccard(a: tuple[str, str], b: tuple[str, str]) -> float:
    """Word 5-gram Jaccard of two (title, body) pairs."""
    return jaccard(shingles(tokens(*a)), shingles(tokens(*b)))


# ---------------------------------------------------------------------------------------------
# Loading the real dumps into row templates


class Pieces:
    """Interns the pieces of every Title and Body. A piece is one perturbable word with all the text
    up to the next word (spaces, punctuation, tags, entities, numbers), or the text before a text's
    first word (a piece without a word). A Title or Body is kept as a span of its site's array of
    piece ids, so copy k renders it by gathering strings: the piece itself, or its word's copy-k
    variant followed by the same text. A piece's string determines its word: a word is followed
    by a non-word character, and a leading piece that starts with ASCII word characters has a
    (non-ASCII) word character right after them, else they would be a word."""

    def __init__(self):
        self.ids: dict[str, int] = {}  # piece -> piece id
        self.word_len = array("i")  # per piece id: length of its word (0: a text's leading piece)
        self.start_site()

    def start_site(self) -> None:
        self.keys: list[str] = []  # the site's pieces in order, tags replaced by _TAG_MARK
        self.lens: list[int] = []  # and the length of their words
        self.tags: list[str] = []  # the tags replaced, in order

    def add(self, text: str, is_html: bool) -> tuple[int, int]:
        """Queue one Title or Body of the current site; return its span of the site's pieces."""
        start = len(self.keys)
        if is_html and "<" in text:
            tags = _TAG.findall(text)
            if tags:
                self.tags.extend(tags)
                text = _TAG.sub(_TAG_MARK, text)
        parts = _PIECE_WORD.split(text)
        if parts[0]:
            self.keys.append(parts[0])
            self.lens.append(0)
        self.keys.extend(map(operator.add, parts[1::2], parts[2::2]))
        self.lens.extend(map(len, parts[1::2]))
        return start, len(self.keys)

    def finish_site(self) -> np.ndarray:
        """The piece ids of the current site's queued texts (interned: new pieces get new ids)."""
        keys = self.keys
        if self.tags:  # put the tags back, all at once
            texts = _SEP.join(keys).split(_TAG_MARK)
            woven = [""] * (2 * len(texts) - 1)
            woven[0::2], woven[1::2] = texts, self.tags
            keys = "".join(woven).split(_SEP)
        ids, before = self.ids, len(self.ids)
        out = np.array([ids.setdefault(key, len(ids)) for key in keys], dtype=np.intp)
        new = np.flatnonzero(out >= before)
        first = new[np.unique(out[new], return_index=True)[1]]  # where each new piece first occurs
        self.word_len.extend(np.asarray(self.lens, dtype=np.int32)[first].tolist())
        self.start_site()
        return out


class Row:
    """One real row as a %-format template: Id, ParentId, AcceptedAnswerId, Title and Body are
    slots (%(i)d %(p)d %(a)d %(t)s %(b)s), every other attribute is fixed, already escaped. Title
    and Body are kept as spans (start, end) of the site's piece array (None when absent)."""

    __slots__ = ("accepted", "answers", "body", "fmt", "id", "parent", "title", "type", "words")

    def __init__(self, attrs, pieces: Pieces):
        parts = ["  <row"]
        self.type = attrs.get("PostTypeId", "")
        self.id = self.parent = self.accepted = 0
        self.title = self.body = None
        raw_title = raw_body = None
        for name, value in attrs.items():
            if name == "Id" and value.isdigit():
                self.id, slot = int(value), "%(i)d"
            elif name == "ParentId" and value.isdigit():
                self.parent, slot = int(value), "%(p)d"
            elif name == "AcceptedAnswerId" and value.isdigit():
                self.accepted, slot = int(value), "%(a)d"
            elif name == "Title":
                raw_title, self.title, slot = value, pieces.add(value, False), "%(t)s"
            elif name == "Body":
                raw_body, self.body, slot = value, pieces.add(value, True), "%(b)s"
            else:
                slot = esc(value).replace("%", "%%")
            parts.append(f' {name}="{slot}"')
        parts.append(" />")
        self.fmt = "".join(parts)
        self.words = len(tokens(raw_title or "", raw_body or "")) if self.type == "1" else 0
        self.answers: list[Row] = []


class Site:
    def __init__(self, index: int, name: str, path: Path, pieces: Pieces):
        self.index, self.name, self.path = index, name, path
        self.rows: list[Row] = []
        pieces.start_site()
        for _, element in etree.iterparse(str(path), events=("end",), tag="row", resolve_entities=False,
                                          no_network=True, load_dtd=False, huge_tree=True):
            self.rows.append(Row(element.attrib, pieces))
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
        self.pieces = pieces.finish_site()
        self.is_word = None  # per position: is the piece a word (set by Generator)
        by_id = {r.id: r for r in self.rows if r.type == "1"}
        for r in self.rows:
            if r.type == "2" and r.parent in by_id:
                by_id[r.parent].answers.append(r)
        self.questions = [r for r in self.rows if r.type == "1"]
        self.n_answers = sum(r.type == "2" for r in self.rows)
        self.eligible = sum(q.words >= MIN_NEAR_WORDS for q in self.questions)
        self.max_id = max((max(r.id, r.parent, r.accepted) for r in self.rows), default=0)
        if self.max_id >= SITE_STRIDE:
            sys.exit(f"{path}: post id {self.max_id} does not fit the id scheme (< {SITE_STRIDE})")


# ---------------------------------------------------------------------------------------------
# Rendering


class Generator:
    """Renders units. Piece tables: ids [0, P) are the pieces as read, ids [P, 2P) copy k's variant
    of each piece (its word replaced by the word's copy-k variant, the text after it kept), so a
    unit of copy k is one gather of its piece ids, the selected words' ids shifted by P."""

    def __init__(self, sites: list[Site], pieces: Pieces, seed: int, near_rate: float, exact_rate: float,
                 perturb_rate: float = PERTURB_RATE):
        self.sites, self.seed = sites, seed
        self.near_rate, self.exact_rate = near_rate, exact_rate
        self.perturb_rate = perturb_rate
        word_id: dict[str, int] = {}
        keys = list(pieces.ids)  # in id order
        split = list(zip(keys, pieces.word_len))
        self.shift = len(keys)
        self.piece_word = np.array([word_id.setdefault(p[:n], len(word_id)) if n else -1 for p, n in split],
                                   dtype=np.intp)
        words = list(word_id)
        gaps = [p[n:] for p, n in split]
        gaps_esc = [esc(g) for g in gaps]
        self.gap_raw = np.array(gaps, dtype=object)
        self.gap_esc = np.array(gaps_esc, dtype=object)
        self.base_raw = np.array(keys, dtype=object)
        self.base_esc = np.array([p[:n] + g for (p, n), g in zip(split, gaps_esc)], dtype=object)
        n_words = len(words)
        counts = np.zeros(n_words, dtype=np.int64)
        for s in sites:
            w = self.piece_word[s.pieces]
            s.is_word = w >= 0
            counts += np.bincount(w[s.is_word], minlength=n_words)
        # The dialect: the lower-case vocabulary in three classes (letters only, digits only, the
        # rest), each ranked by frequency (ties by the word), so that a copy swaps a word for one
        # of its class of about the same frequency; each word keeps its case pattern.
        lower_id: dict[str, int] = {}
        word_lower = np.array([lower_id.setdefault(w.lower(), len(lower_id)) for w in words], dtype=np.intp)
        freq = np.bincount(word_lower, weights=counts, minlength=len(lower_id)) if n_words else np.zeros(0)
        lowers = list(lower_id)
        kind = [0 if w.isalpha() else 1 if w.isdigit() else 2 for w in lowers]
        order = sorted(range(len(lowers)), key=lambda i: (kind[i], -freq[i], lowers[i]))
        rank = np.empty(len(lowers), dtype=np.int64)
        rank[order] = np.arange(len(lowers))
        sizes = np.bincount(np.array(kind, dtype=np.intp), minlength=3)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        by_rank = [lowers[i] for i in order]
        self.by_rank = (np.array(by_rank, dtype=object), np.array([w.capitalize() for w in by_rank], dtype=object),
                        np.array([w.upper() for w in by_rank], dtype=object))
        self.word_rank = rank[word_lower]
        word_kind = np.array(kind, dtype=np.intp)[word_lower]
        self.word_class = (starts[word_kind].astype(np.int64), sizes[word_kind].astype(np.int64))
        self.word_case = np.array([2 if len(w) > 1 and w.isupper() else 1 if w[0].isupper() and
                                   (w[1:].islower() or len(w) == 1) else 0 for w in words], dtype=np.int8)
        self._words: OrderedDict = OrderedDict()
        self._table: tuple = (None, None)  # (copy, its piece table)

    # -- perturbation -----------------------------------------------------------------------

    def variant_words(self, k: int, words: np.ndarray | None = None) -> np.ndarray:
        """Copy k's variant of each word id in words (default: of every word): the word of rank r in
        its class moves to rank r +- d, 1 <= d <= max(4, r // 4), within the class, by a hash of
        (seed, copy, word), and keeps its case pattern."""
        pick = (lambda a: a) if words is None else (lambda a: a[words])
        start, n = pick(self.word_class[0]), pick(self.word_class[1])
        r = pick(self.word_rank) - start
        key = np.uint64(mix64(mix64(self.seed) ^ (k * 0x2545F4914F6CDD1D & _MASK)))
        h = mix64_np((r + start).astype(np.uint64) ^ key)
        d = 1 + (h % np.maximum(4, r // 4).astype(np.uint64)).astype(np.int64)
        up = ((h >> np.uint64(40)) & np.uint64(1)).astype(bool)
        new = np.where(up, r + d, r - d)
        new = np.clip(np.where(new < 0, r + d, np.where(new >= n, r - d, new)), 0, n - 1)
        new = np.where(new == r, (r + 1) % n, new) + start  # (a class of one word keeps it)
        case = pick(self.word_case)
        low, cap, upper = self.by_rank
        return np.where(case == 0, low[new], np.where(case == 1, cap[new], upper[new]))

    def copy_words(self, k: int) -> np.ndarray | None:
        """Copy k's variant of every word (None for copy 0), kept for the last few copies: units
        come copy by copy, and the planted posts of a unit a fixed number of units later."""
        if k == 0 or self.perturb_rate <= 0:
            return None
        if k not in self._words:
            self._words[k] = self.variant_words(k)
            if len(self._words) > 4:
                self._words.popitem(last=False)
        return self._words[k]

    def copy_table(self, k: int) -> np.ndarray:
        """The escaped piece table of copy k: the P pieces, then (copy k >= 1) their copy-k variants."""
        words = self.copy_words(k)
        if words is None:
            return self.base_esc
        if self._table[0] != k:
            has = self.piece_word >= 0
            variants = self.base_esc.copy()
            variants[has] = words[self.piece_word[has]] + self.gap_esc[has]
            self._table = (k, np.concatenate([self.base_esc, variants]))
        return self._table[1]

    def selected(self, k: int, site: Site, start: int = 0, end: int | None = None) -> np.ndarray | None:
        """Which positions [start, end) of the site's pieces are perturbed in copy k (None: none).
        Stratified, so that short texts get their share too: the positions go in blocks of
        PERTURB_BLOCK; a block has m = floor(PERTURB_BLOCK * rate + u) of its positions chosen
        (u uniform in [0, 1)), the m with the smallest hash; a chosen position that is not a word
        (a text's leading piece) stays. All hashes are of (seed, copy, site, position or block)."""
        if k == 0 or self.perturb_rate <= 0:
            return None
        end = len(site.pieces) if end is None else end
        if end <= start:
            return np.zeros(0, dtype=bool)
        b = PERTURB_BLOCK
        first, last = start // b, (end - 1) // b + 1  # the blocks that hold [start, end)
        key = mix64(mix64(mix64(self.seed) ^ k) ^ (site.index + 1))
        h = mix64_np(np.arange(first * b, last * b, dtype=np.uint64) ^ np.uint64(key)).reshape(-1, b)
        u = mix64_np(np.arange(first, last, dtype=np.uint64) ^ np.uint64(mix64(key))) >> np.uint64(11)
        m = np.floor(b * self.perturb_rate + u * 2.0 ** -53).astype(np.int64)
        order = np.argsort(h, axis=1)
        chosen = np.zeros(h.shape, dtype=bool)
        np.put_along_axis(chosen, order, np.arange(b)[None, :] < m[:, None], axis=1)
        return chosen.ravel()[start - first * b:end - first * b] & site.is_word[start:end]

    def piece_ids(self, k: int, site: Site) -> np.ndarray:
        """The ids in copy_table(k) of the whole site's pieces in copy k."""
        sel = self.selected(k, site)
        return site.pieces if sel is None else np.where(sel, site.pieces + self.shift, site.pieces)

    def text(self, k: int, site: Site, span, raw: bool = True, words: np.ndarray | None = None) -> str | None:
        """One Title or Body of copy k (None when the row has none), raw or escaped; words: copy k's
        variant of every word when at hand (copy_words), else the needed ones are computed."""
        if span is None:
            return None
        ids = site.pieces[span[0]:span[1]]
        strings = (self.base_raw if raw else self.base_esc)[ids]
        sel = self.selected(k, site, *span)
        if sel is not None and sel.any():
            chosen = ids[sel]
            variants = (self.variant_words(k, self.piece_word[chosen]) if words is None
                        else words[self.piece_word[chosen]])
            strings[sel] = variants + (self.gap_raw if raw else self.gap_esc)[chosen]
        return "".join(strings.tolist())

    def markers(self, k: int, new_id: int) -> tuple[str, str]:
        """The raw (title suffix, body suffix) marking question new_id of copy k."""
        w = marker_words(self.seed, new_id, 7)
        return f" ({w[0]} {w[1]} {k})", f"<p>Context {k}-{new_id}: {w[2]} {w[3]} {w[4]} {w[5]} {w[6]}.</p>\n"

    def question_text(self, k: int, site: Site, q: Row, words: np.ndarray | None = None
                      ) -> tuple[str | None, str | None]:
        """The raw (Title, Body) of question q in copy k, markers included, exactly as written."""
        new_id = q.id + k * COPY_STRIDE + site.index * SITE_STRIDE
        t_suffix, b_suffix = self.markers(k, new_id)
        title, body = self.text(k, site, q.title, words=words), self.text(k, site, q.body, words=words)
        return (title + t_suffix if title is not None else None, body + b_suffix if body is not None else None)

    # -- units ------------------------------------------------------------------------------

    def render_unit(self, k: int, site: Site) -> tuple[list[str], dict]:
        off = k * COPY_STRIDE + site.index * SITE_STRIDE
        strings = self.copy_table(k)[self.piece_ids(k, site)].tolist()
        join = "".join
        lines = []
        append = lines.append
        seed = self.seed
        counts = {"questions": 0, "answers": 0, "other": 0}
        for r in site.rows:
            new_id = r.id + off
            values = {"i": new_id, "p": r.parent + off, "a": r.accepted + off}
            t, b = r.title, r.body
            if t is not None:
                values["t"] = join(strings[t[0]:t[1]])
            if b is not None:
                values["b"] = join(strings[b[0]:b[1]])
            if r.type == "1":
                w = marker_words(seed, new_id, 7)
                if t is not None:
                    values["t"] += f" ({w[0]} {w[1]} {k})"
                if b is not None:
                    values["b"] += f"&lt;p&gt;Context {k}-{new_id}: {w[2]} {w[3]} {w[4]} {w[5]} {w[6]}.&lt;/p&gt;&#xA;"
                counts["questions"] += 1
            elif r.type == "2":
                if b is not None:
                    values["b"] += f"&lt;p&gt;Ref {k}-{new_id}.&lt;/p&gt;&#xA;"
                counts["answers"] += 1
            else:
                counts["other"] += 1
            append(r.fmt % values)
        return lines, counts

    def planted_unit(self, k: int, site: Site) -> list[dict]:
        """The planted groups of one unit: pure function of (seed, k, site), so it can be written
        before or after the unit itself. Made from the unit's own (perturbed, marked) text."""
        rng = random.Random(f"{self.seed}:{k}:{site.index}")
        off = k * COPY_STRIDE + site.index * SITE_STRIDE
        next_id = k * COPY_STRIDE + PLANTED_BASE + site.index * SITE_STRIDE
        p_near = min(1.0, self.near_rate * len(site.questions) / site.eligible) if site.eligible else 0.0
        words = self.copy_words(k)
        groups = []
        for q in site.questions:
            u_near, u_exact = rng.random(), rng.random()
            if q.words >= MIN_NEAR_WORDS and u_near < p_near:
                kind = "near"
            elif u_exact < self.exact_rate:
                kind = "exact"
            else:
                continue
            src_id = q.id + off
            raw_t, raw_b = self.question_text(k, site, q, words)
            if kind == "near":
                new_t, new_b, jac = near_duplicate(raw_t or "", raw_b or "", rng)
                raw_t = new_t if raw_t is not None else None
                raw_b = new_b if raw_b is not None else None
            else:
                jac = 1.0
            planted_q = next_id
            answer_ids = {a.id: planted_q + 1 + i for i, a in enumerate(q.answers)}
            next_id += 1 + len(q.answers)
            values = {"i": planted_q, "p": 0, "a": answer_ids.get(q.accepted, q.accepted + off),
                      "t": esc(raw_t) if raw_t is not None else None,
                      "b": esc(raw_b) if raw_b is not None else None}
            lines = [q.fmt % values]
            for a in q.answers:  # copies of the answers' copy-k text, as written in the unit
                a_id = answer_ids[a.id]
                values = {"i": a_id, "p": planted_q, "a": a.accepted + off}
                if a.title is not None:
                    values["t"] = self.text(k, site, a.title, raw=False, words=words)
                if a.body is not None:
                    values["b"] = (self.text(k, site, a.body, raw=False, words=words)
                                   + f"&lt;p&gt;Ref {k}-{a.id + off}.&lt;/p&gt;&#xA;")
                lines.append(a.fmt % values)
            groups.append({"id": planted_q, "source_id": src_id, "kind": kind, "jaccard": round(jac, 4),
                           "lines": lines, "answers": len(q.answers)})
        return groups

    def copy_jaccards(self, copies: int, n: int = COPY_JACCARD_SAMPLE) -> dict:
        """Word-5-gram Jaccard of the same real question rendered in two copies, for n questions
        drawn with replacement from all sites: vs copy 0 (the real text) and copy k1 >= 1, and
        between two perturbed copies k1 != k2 >= 1 (copies drawn among those of the corpus, or 1-2
        when it has fewer; rendered even where the corpus ends before them)."""
        rng = random.Random(f"{self.seed}:copy-jaccard")
        pool = [(s, q) for s in self.sites for q in s.questions]
        top = max(copies - 1, 2)
        vs0, between = [], []
        for _ in range(n if pool else 0):
            site, q = rng.choice(pool)
            k1, k2 = rng.sample(range(1, top + 1), 2)
            a, b, c = (self.question_text(k, site, q) for k in (0, k1, k2))
            norm = lambda x: (x[0] or "", x[1] or "")
            vs0.append(round(text_jaccard(norm(a), norm(b)), 4))
            between.append(round(text_jaccard(norm(b), norm(c)), 4))
        return {"vs_copy0": summary(vs0), "between_copies": summary(between)}


def near_duplicate(title: str, body: str, rng: random.Random) -> tuple[str, str, float]:
    """Edit (title, body) to a word 5-gram Jaccard near a target in NEAR_TARGET; return the new pair
    and the measured Jaccard. Words are only replaced inside text (never inside tags or entities),
    sentences only swapped within one text segment, so the HTML stays valid."""
    target = rng.uniform(*NEAR_TARGET)
    source = shingles(tokens(title, body))
    segments = _TAG_SPLIT.split(body)  # even indices: text; odd: tags
    if rng.random() < 0.5:
        swappable = [i for i in range(0, len(segments), 2) if len(_SENTENCE.split(segments[i])) >= 2]
        if swappable:
            i = rng.choice(swappable)
            sentences = _SENTENCE.split(segments[i])
            j = rng.randrange(len(sentences) - 1)
            sentences[j], sentences[j + 1] = sentences[j + 1], sentences[j]
            kept = segments[i]
            segments[i] = " ".join(sentences)
            if jaccard(source, shingles(tokens(title, "".join(segments)))) < target - 0.02:
                segments[i] = kept  # on a short text a swap alone overshoots: undo it
    # every replaceable word: (segment index or -1 for the title, match)
    candidates = [(-1, m) for m in _WORD.finditer(title)]
    for i in range(0, len(segments), 2):
        candidates.extend((i, m) for m in _WORD.finditer(segments[i]))
    order = list(range(len(candidates)))
    rng.shuffle(order)
    chosen: list[int] = []
    swapped_body = "".join(segments)
    new_title, new_body = title, swapped_body
    jac = jaccard(source, shingles(tokens(new_title, new_body)))
    replacement: dict[int, str] = {}
    previous = None  # the state before the last step: (title, body, jaccard, replacements)
    for _ in range(64):
        if jac <= target + 0.005 or len(chosen) >= len(order):
            break
        previous = (new_title, new_body, jac, len(chosen))
        # each replaced word changes up to 5 shingles: J = (S-c)/(S+c)  =>  c = S(1-J)/(1+J);
        # approach the target from above, in shrinking steps, ending one word at a time
        want = len(source) * ((1 - target) / (1 + target) - (1 - jac) / (1 + jac))
        more = max(1, int(want / 5 * 0.7))
        for idx in order[len(chosen):len(chosen) + more]:
            chosen.append(idx)
            word = candidates[idx][1].group(0)
            new = rng.choice(WORDS)
            while new == word.lower():
                new = rng.choice(WORDS)
            replacement[idx] = new.capitalize() if word[0].isupper() else new
        new_title, new_body = _apply(title, segments, candidates, replacement)
        jac = jaccard(source, shingles(tokens(new_title, new_body)))
    if previous and previous[2] < 1.0 and target - jac > previous[2] - target:
        new_title, new_body, jac, _ = previous  # the last step overshot: the state before is closer
    if new_title == title and new_body == body:  # nothing changed (no words): force one change
        new_body = body + "<p>" + rng.choice(WORDS) + "</p>\n"
        jac = jaccard(source, shingles(tokens(new_title, new_body)))
    return new_title, new_body, jac


def _apply(title: str, segments: list[str], candidates: list, replacement: dict) -> tuple[str, str]:
    by_segment: dict[int, list[tuple[int, int, str]]] = {}
    for idx, new in replacement.items():
        seg, m = candidates[idx]
        by_segment.setdefault(seg, []).append((m.start(), m.end(), new))

    def patch(text: str, edits: list) -> str:
        out, pos = [], 0
        for start, end, new in sorted(edits):
            out.append(text[pos:start])
            out.append(new)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    new_title = patch(title, by_segment[-1]) if -1 in by_segment else title
    body = [patch(s, by_segment[i]) if i in by_segment else s for i, s in enumerate(segments)]
    return new_title, "".join(body)


# ---------------------------------------------------------------------------------------------
# Writing


class Out:
    def __init__(self, path: Path, newline: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.nl = path, newline
        self.f = open(path, "wb", buffering=1 << 22)
        self.bytes = 0
        self.write_text('\ufeff<?xml version="1.0" encoding="utf-8"?>' + newline + "<posts>" + newline)

    def write_text(self, text: str) -> None:
        data = text.encode("utf-8")
        self.f.write(data)
        self.bytes += len(data)

    def write_lines(self, lines: list[str]) -> None:
        if lines:
            self.write_text(self.nl.join(lines) + self.nl)

    def close(self) -> None:
        self.write_text("</posts>")
        self.f.close()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path,
                   help="output folder (created): Posts.xml or <site>/Posts.xml, truth.jsonl, corpus.json")
    p.add_argument("--size-mb", required=True, type=float,
                   help="target size of the Posts.xml output in MB (10^6 bytes); generation stops after the "
                        "unit (one copy of one real site, 1-4 MB) that crosses it, planted posts not counted, so "
                        "the output is a little larger")
    p.add_argument("--seed", type=int, default=0, help="random seed (output is deterministic per seed; default 0)")
    p.add_argument("--near-dup-rate", type=float, default=0.02,
                   help="fraction of questions given a planted near duplicate (default 0.02)")
    p.add_argument("--exact-dup-rate", type=float, default=0.01,
                   help="fraction of questions given a planted exact duplicate (default 0.01)")
    p.add_argument("--perturb-rate", type=float, default=PERTURB_RATE,
                   help=f"share of the words replaced in each copy k >= 1 so that copies of one real question are "
                        f"far apart (default {PERTURB_RATE}: their word-5-gram Jaccard is ~0.1 to copy 0, ~0.02 "
                        "between two perturbed copies; 0 makes all copies near duplicates of each other, which "
                        "truth.jsonl does not list)")
    p.add_argument("--site-dirs", action="store_true",
                   help="write OUT/sites/<site>/Posts.xml for several synthetic sites (corpus1-2020, ...) instead "
                        "of one OUT/Posts.xml; units go round-robin over the folders")
    p.add_argument("--n-site-dirs", type=int, default=4, choices=range(1, len(DIR_NAMES) + 1), metavar="N",
                   help=f"number of site folders with --site-dirs (1-{len(DIR_NAMES)}, default 4)")
    p.add_argument("--newline", choices=("crlf", "lf", "mixed"), default="crlf",
                   help="line ends: crlf (default, like most dumps), lf, or mixed (alternate per site folder)")
    p.add_argument("--data", type=Path, default=SITES_DIR,
                   help=f"folder of real site dumps <site>/Posts.xml (default: {SITES_DIR})")
    excluded = "; ".join(f"{name}: {why}" for name, why in DEFAULT_EXCLUDE.items())
    p.add_argument("--sites", default=None,
                   help=f"comma-separated real site folders to use (default: all in --data, sorted, except "
                        f"{', '.join(DEFAULT_EXCLUDE)}. {excluded}. Name it here to use it anyway)")
    p.add_argument("--votes-rows", type=int, default=0, metavar="N",
                   help="also write OUT/Votes.xml with N rows: the rows of the first used site's real Votes.xml "
                        "(in --data; only quantumcomputing-2018 has one), repeated in copies k = 0, 1, ... whose "
                        "Id runs on and whose PostId is shifted like that site's posts in copy k, so the votes "
                        "point at the corpus's posts (default 0: none; not with --site-dirs)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.votes_rows < 0 or (args.votes_rows and args.site_dirs):
        p.error("--votes-rows must be >= 0, and is for one OUT/Posts.xml (not with --site-dirs)")
    if args.size_mb <= 0:
        p.error("--size-mb must be positive")
    for name in ("near_dup_rate", "exact_dup_rate", "perturb_rate"):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f"--{name.replace('_', '-')} must be within [0, 1]")
    return args


def site_names(data: Path, sites: str | None) -> list[str]:
    """The real site folders to use: --sites as given, or every <site>/Posts.xml in data, sorted,
    less DEFAULT_EXCLUDE."""
    if not data.is_dir():
        sys.exit(f"make_corpus: {data} is absent: the real Stack Exchange dumps live beside the checkout "
                 "(../shared/data/stackexchange/<site>/Posts.xml); pass --data to point elsewhere")
    names = sorted(d.name for d in data.iterdir() if (d / "Posts.xml").is_file())
    if sites:
        wanted = [s.strip() for s in sites.split(",") if s.strip()]
        missing = [s for s in wanted if s not in names]
        if missing:
            sys.exit(f"make_corpus: no {', '.join(missing)} in {data} (have: {', '.join(names)})")
        names = wanted
    else:
        names = [n for n in names if n not in DEFAULT_EXCLUDE]
    if not names:
        sys.exit(f"make_corpus: no <site>/Posts.xml under {data}")
    if len(names) > MAX_SITES:
        sys.exit(f"make_corpus: at most {MAX_SITES} real sites fit the id scheme")
    return names


def load_sites(args) -> tuple[list[Site], Pieces]:
    pieces = Pieces()
    names = site_names(args.data, args.sites)
    return [Site(i, name, args.data / name / "Posts.xml", pieces) for i, name in enumerate(names)], pieces


def corpus_host(folder: str | None) -> str:
    """The host a corpus Posts.xml is built as: corpus.bench.invalid, or corpus1.bench.invalid for the
    site folder corpus1-2020."""
    return f"{(folder or 'corpus').split('-')[0]}.{CORPUS_DOMAIN}"


def build_sites(out: Path) -> list[str]:
    """The `--site PATH=HOST` entries that build the corpus made in `out` (corpus.json build_sites, found
    again from its files, so a corpus moved since, or made before build_sites existed, works too)."""
    found = [(out / "Posts.xml", None)] if (out / "Posts.xml").is_file() else []
    found += [(path, path.parent.name) for path in sorted((out / "sites").glob("*/Posts.xml"))]
    return [f"{path}={corpus_host(name)}" for path, name in found]


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    v = sorted(values)
    q = lambda f: v[min(len(v) - 1, int(f * len(v)))]
    return {"n": len(v), "min": v[0], "p05": q(0.05), "median": round(statistics.median(v), 4), "p95": q(0.95),
            "max": v[-1], "mean": round(statistics.fmean(v), 4)}


def describe(j: dict | None) -> str:
    if not j:
        return "none"
    return (f"min {j['min']:.3f} p05 {j['p05']:.3f} median {j['median']:.3f} p95 {j['p95']:.3f} max {j['max']:.3f} "
            f"(n={j['n']})")


VOTE_ATTRIBUTES = ("PostId", "VoteTypeId", "CreationDate", "UserId", "BountyAmount")


def write_votes(path: Path, rows: int, sites: list, newline: str) -> dict:
    """A Votes.xml of `rows` rows made of the real Votes.xml of the first site in `sites` that has
    one, copy after copy (see --votes-rows); returns where it came from and its size."""
    site = next((s for s in sites if (s.path.parent / "Votes.xml").is_file()), None)
    if site is None:
        raise SystemExit(f"make_corpus: --votes-rows needs a Votes.xml beside one of the sites' Posts.xml "
                         f"({', '.join(s.name for s in sites)})")
    real = []
    for _, row in etree.iterparse(str(site.path.parent / "Votes.xml"), tag="row"):
        real.append([(name, row.get(name)) for name in VOTE_ATTRIBUTES if row.get(name) is not None])
        row.clear()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(f'\ufeff<?xml version="1.0" encoding="utf-8"?>{newline}<votes>{newline}')
        for number in range(rows):
            k, i = divmod(number, len(real))
            shift = k * COPY_STRIDE + site.index * SITE_STRIDE
            attrs = "".join(f' {name}="{int(value) + shift if name == "PostId" else value}"' for name, value in real[i])
            f.write(f'  <row Id="{number + 1}"{attrs} />{newline}')
        f.write(f"</votes>{newline}")
    return {"file": path.name, "rows": rows, "bytes": path.stat().st_size, "origin": site.name,
            "rule": "row i of copy k: the real row i, Id numbered on, PostId + k*copy_stride + s*site_stride"}


def main(argv=None) -> dict:
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    start = time.perf_counter()
    sites, pieces = load_sites(args)
    gen = Generator(sites, pieces, args.seed, args.near_dup_rate, args.exact_dup_rate, args.perturb_rate)
    log(f"loaded {len(sites)} real sites ({', '.join(s.name for s in sites)}; {sum(len(s.rows) for s in sites):,} "
        f"rows, {len(pieces.ids):,} distinct pieces) in {time.perf_counter() - start:.1f}s")

    # Plan the units: measure one copy of each site and repeat copy-major until the target is
    # crossed. Sizes differ between copies only by id digits and word variants; the planted posts
    # (a few % more) come on top, so the output is at least --size-mb.
    target = args.size_mb * 1e6
    unit_bytes = {}
    for s in sites:
        lines, _ = gen.render_unit(1, s)
        unit_bytes[s.index] = sum(len(x.encode()) + 2 for x in lines)
    units, total = [], 0
    while total < target:
        k, s = divmod(len(units), len(sites))
        units.append((k, sites[s]))
        total += unit_bytes[s]
    n = len(units)
    shift = n // 2

    args.out.mkdir(parents=True, exist_ok=True)
    if args.site_dirs:
        names = DIR_NAMES[: min(args.n_site_dirs, n)]
    else:
        names = [None]
    nl_of = lambda i: "\n" if args.newline == "lf" or (args.newline == "mixed" and i % 2) else "\r\n"
    outs = [Out(args.out / "sites" / name / "Posts.xml" if name else args.out / "Posts.xml", nl_of(i))
            for i, name in enumerate(names)]

    counts = {"questions": 0, "answers": 0, "other": 0}
    planted_counts = {"near": 0, "exact": 0, "answers": 0}
    jaccards = []
    units_meta = []
    t_last = time.perf_counter()
    with open(args.out / "truth.jsonl", "w", encoding="utf-8") as truth:
        for idx, (k, site) in enumerate(units):
            out_i = idx % len(outs)
            out = outs[out_i]
            lines, c = gen.render_unit(k, site)
            out.write_lines(lines)
            for key in counts:
                counts[key] += c[key]
            units_meta.append({"unit": idx, "copy": k, "origin": site.name, "site": names[out_i],
                               "id_base": k * COPY_STRIDE + site.index * SITE_STRIDE,
                               "planted_id_base": k * COPY_STRIDE + PLANTED_BASE + site.index * SITE_STRIDE})
            # the planted posts whose source is unit (idx - shift) mod n go here
            src_idx = (idx - shift) % n
            src_k, src_site = units[src_idx]
            src_dir = names[src_idx % len(outs)]
            groups = gen.planted_unit(src_k, src_site)
            rng = random.Random(f"{args.seed}:order:{idx}")
            rng.shuffle(groups)
            out.write_lines([line for g in groups for line in g["lines"]])
            for g in groups:
                planted_counts[g["kind"]] += 1
                planted_counts["answers"] += g["answers"]
                counts["questions"] += 1
                counts["answers"] += g["answers"]
                if g["kind"] == "near":
                    jaccards.append(g["jaccard"])
                truth.write(json.dumps({"id": g["id"], "source_id": g["source_id"], "kind": g["kind"],
                                        "jaccard": g["jaccard"], "site": names[out_i], "source_site": src_dir,
                                        "origin": src_site.name}) + "\n")
            now = time.perf_counter()
            if now - t_last >= 2 or idx == n - 1:
                t_last = now
                written = sum(o.bytes for o in outs)
                elapsed = now - start
                rate = written / 1e6 / elapsed
                eta = (total - written) / 1e6 / rate if rate else 0
                log(f"unit {idx + 1}/{n} (copy {k}, {site.name}): {written / 1e6:,.0f} MB, "
                    f"{rate:.1f} MB/s, eta {max(eta, 0):.0f}s")
    for o in outs:
        o.close()
    votes = write_votes(args.out / "Votes.xml", args.votes_rows, sites, nl_of(0)) if args.votes_rows else None
    copies = units[-1][0] + 1
    copy_jaccard = gen.copy_jaccards(copies)
    seconds = time.perf_counter() - start

    report = {
        "bytes": sum(o.bytes for o in outs),
        "files": {str(o.path.relative_to(args.out)): o.bytes for o in outs},
        "build_source": str(args.out / "sites" if args.site_dirs else args.out / "Posts.xml"),
        "build_sites": [f"{o.path}={corpus_host(name)}" for o, name in zip(outs, names)],
        "questions": counts["questions"],
        "answers": counts["answers"],
        "other_rows": counts["other"],
        "copies": copies,
        "units": n,
        "planted": planted_counts,
        "near_jaccard": summary(jaccards),
        "copy_jaccard": copy_jaccard,
        "copy_perturbation": {
            "rate": args.perturb_rate,
            "block": PERTURB_BLOCK,
            "rule": "copy 0 is the real text; in copy k >= 1 about rate of the words (runs of ASCII letters, digits "
                    "and _ in text: not in tags, entity names or LaTeX commands) of every Title and Body are "
                    "replaced, stratified (floor(block*rate + u) of each block of block piece positions, by a hash "
                    "of seed, copy, site, position), each by copy k's variant of the word: a word of its class "
                    "(letters, digits, mixed) in the dumps' vocabulary of about the same frequency rank, case "
                    "pattern kept; tags, entities and whitespace unchanged. copy_jaccard: word-5-gram Jaccard of "
                    f"{COPY_JACCARD_SAMPLE} sampled questions rendered in copy 0 and k1, and in k1 and k2 (k >= 1)",
        },
        "votes": votes,
        "seed": args.seed,
        "args": {"size_mb": args.size_mb, "near_dup_rate": args.near_dup_rate,
                 "exact_dup_rate": args.exact_dup_rate, "perturb_rate": args.perturb_rate,
                 "site_dirs": args.site_dirs, "n_site_dirs": len(names) if args.site_dirs else None,
                 "newline": args.newline, "sites": [s.name for s in sites]},
        "seconds": round(seconds, 2),
        "id_scheme": {
            "copy_stride": COPY_STRIDE, "site_stride": SITE_STRIDE, "planted_base": PLANTED_BASE,
            "rule": "copy k of real site s: id = k*copy_stride + s*site_stride + real id; planted posts of that "
                    "unit: k*copy_stride + planted_base + s*site_stride + j. Questions with equal "
                    "id % copy_stride (< planted_base) are copies of one real question (copy family); with "
                    "copy_perturbation rate > 0 they are NOT near duplicates of each other (see copy_jaccard).",
            "copies_are_near_duplicates": args.perturb_rate == 0,
        },
        "jaccard_definition": "word 5-gram shingle sets of title + ' ' + body; tags replaced by spaces, entities "
                              "unescaped, lowercased, whitespace-split",
        "sources": [{"index": s.index, "origin": s.name, "path": str(s.path), "rows": len(s.rows),
                     "questions": len(s.questions), "answers": s.n_answers} for s in sites],
        "attribution": "Stack Exchange user content under CC BY-SA (2.5/3.0/4.0 by post date); each row keeps "
                       "its owner attributes; its real site and real id follow from id_scheme and sources "
                       "(planted rows: truth.jsonl origin and source_id); copies k >= 1 are modified (words "
                       "replaced, see copy_perturbation)",
        "layout": units_meta,
    }
    (args.out / "corpus.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {report['bytes'] / 1e6:,.1f} MB in {seconds:.1f}s ({report['bytes'] / 1e6 / seconds:.1f} MB/s) to "
        f"{args.out}: {n} units ({report['copies']} copies), {counts['questions']:,} questions, "
        f"{counts['answers']:,} answers; planted {planted_counts['near']:,} near + {planted_counts['exact']:,} exact")
    log(f"planted near-duplicate word-5-gram Jaccard: {describe(report['near_jaccard'])}")
    log(f"same question in two copies, Jaccard vs copy 0: {describe(copy_jaccard['vs_copy0'])}")
    log(f"same question in two copies, Jaccard between perturbed copies: {describe(copy_jaccard['between_copies'])}")
    worst = max((j["p95"] for j in copy_jaccard.values() if j), default=0.0)
    if worst >= COPY_JACCARD_LIMIT:
        print(f"make_corpus: warning: copies of one question are close (95th percentile Jaccard {worst:.3f} >= "
              f"{COPY_JACCARD_LIMIT}); raise --perturb-rate", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
