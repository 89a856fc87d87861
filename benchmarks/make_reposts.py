"""Reposts planted among the real questions: a ground truth for near-duplicate detection.

    python benchmarks/make_reposts.py --out /tmp/reposts [--seed 0] [--per-band N] [--controls 100]

    from make_reposts import make_reposts          # benchmarks/ on sys.path
    corpus = make_reposts(SITES, seed=0)           # corpus.texts, corpus.truth, corpus.controls

Reads the questions (PostTypeId 1) of <sites>/<site>/Posts.xml at run time (the real dumps beside
the checkout, ../shared/data/stackexchange); nothing from them is stored in the project. A
question's text is what a build compares: Title + "\\n\\n" + html_to_md(Body), stripped (the body
alone when there is no title; stackpref/pipeline/read.py).

Sites. Every site folder except beer-2016, an older dump of beer-2017: its copies of beer-2017's
posts would be unplanted duplicates of the sources. `--sites` names the folders to use instead.

Reposts. Sources are the questions whose word count (words of near_dup.near_dup_text(text)) falls
in a length band: 20-60 words (most Stack Exchange questions are short; the main target), 60-150,
150+. Per band, up to --per-band sources (all by default) are drawn in a seeded order, and the
i-th of them gets the i-th (kind, edits) combination in turn, so every kind gets 1 and 2 edits in
equal shares within every band. A source gets one copy (its truth family is the two of them), the
copy has 1 or 2 edits, all of one kind:

  typo        a letter of a word (4+ letters) swapped with its neighbour, dropped, or doubled
  plural      a trailing s added or removed, only where both forms occur in the corpus
              (question -> questions, qubits -> qubit; never this -> thi)
  substitute  a word replaced by another word of the corpus vocabulary of about the same frequency
              (rank within +-20 among the casefolded words of all the questions read), case kept
  delete      a word dropped with one space beside it
  insert      a word added before another word: drawn by frequency from the 300 commonest words
  title-case  a title word's casing flipped per edit (question -> Question, Qubit -> qubit);
              invisible after normalization (casefold): these copies are exact matches of the source
  reorder     a word swapped with the next word on its line (one space between them)

Where edits land. Word edits pick uniformly among the prose words of the whole question, title and
body alike (in a 40-word question about one edit in five lands in the title), as someone retyping
or touching up a question would; never inside code (fenced blocks, inline code), link targets and
bare URLs, LaTeX ($...$), HTML tags or Markdown syntax, which a repost pastes unchanged. A word is
a run of two or more letters with no letter, digit, underscore, apostrophe or hyphen beside it
(so neither don't nor qubit_1 nor well-known is ever edited). title-case edits the title only.
Two edits of one copy always touch two different words. A copy whose normalized text equals its
source's (other than by title-case) is not made.

Negative controls, pairs that must NOT merge, each of two distinct short (20-60 words) questions
(distinct within a control kind; they may also be sources of reposts: controls are clustered on
their own, their texts are not in OUT/texts.jsonl):

  notice-possible  both get the same older duplicate notice at the top of the body, as
                   html_to_md renders it: "> **Possible Duplicate:**\\\\\\n> [Title](https://
                   example.invalid/questions/N/x)\\n\\n" (Title: a third question's title)
  notice-answers   the same with the newer notice: "> **This question already has answers
                   here**:\\n>\\n> - [Title](/questions/N/x) (K answers)\\n> Closed Y years ago.\\n\\n"
  code-scaffold    the same real fenced code block (from a third question, one of 3+ lines),
                   appended to both bodies; hosts are questions without code

Written under --out (never into the project):

  OUT/texts.jsonl     {"id", "text"} per question: the real questions ("<site>/<Id>"), then the
                      planted copies ("planted/<n>")
  OUT/truth.jsonl     {"id", "source_id", "kind", "edits": [{"op", "where", "old", "new", "at"}],
                      "n_edits", "band", "source_words"} per planted copy
  OUT/controls.jsonl  {"kind", "a_source", "b_source", "text_a", "text_b", ...} per control pair
  OUT/reposts.json    seed, sites, counts per kind, band and control kind

Deterministic from --seed: the same dumps and seed give byte-identical files.
"""

import argparse
import itertools
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from stackpref.steps.near_dup import near_dup_text
from stackpref.steps.text import html_to_md

KINDS = ("typo", "plural", "substitute", "delete", "insert", "title-case", "reorder")
EDIT_COUNTS = (1, 2)
# (name, least words, words below which; None: no upper bound)
BANDS = (("20-60", 20, 60), ("60-150", 60, 150), ("150+", 150, None))
SKIP_SITES = ("beer-2016",)  # an older dump of beer-2017
CONTROL_KINDS = ("notice-possible", "notice-answers", "code-scaffold")

SUBSTITUTE_WINDOW = 20  # ranks either side of the replaced word's
INSERT_POOL = 300  # inserted words come from this many commonest words

_WORD = re.compile(r"(?<![\w'\-])[^\W\d_]{2,}(?![\w'\-])")
# Spans no edit touches: fenced code, inline code, display and inline LaTeX, link and image
# targets, bare URLs, HTML tags.
_PROTECTED = re.compile(
    r"^```.*?^```[ \t]*$"
    r"|`[^`\n]*`"
    r"|\$\$.*?\$\$"
    r"|\$[^$\n]*\$"
    r"|\]\([^)\n]*\)"
    r"|https?://\S+"
    r"|<[^>\n]*>",
    re.DOTALL | re.MULTILINE,
)
_FENCED = re.compile(r"^```[^\n]*\n.*?\n```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Question:
    site: str
    post_id: int
    title: str  # stripped
    body: str  # html_to_md(Body)

    @property
    def key(self) -> str:
        return f"{self.site}/{self.post_id}"

    @property
    def text(self) -> str:
        return compose(self.title, self.body)


def compose(title: str, body: str) -> str:
    """A question's text as a build makes it (stackpref/pipeline/read.py)."""
    return (title + "\n\n" + body if title else body).strip()


def default_sites_root() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"


def site_names(root: Path, sites: Sequence[str] | None = None) -> list[str]:
    if sites:
        return list(sites)
    return sorted(p.name for p in root.iterdir() if (p / "Posts.xml").is_file() and p.name not in SKIP_SITES)


def read_questions(root: Path, sites: Sequence[str]) -> list[Question]:
    """The questions of root/<site>/Posts.xml, in file order, site by site."""
    out = []
    for site in sites:
        path = Path(root) / site / "Posts.xml"
        for _, row in etree.iterparse(str(path), events=("end",), tag="row", resolve_entities=False,
                                      no_network=True, load_dtd=False, huge_tree=True):
            if row.get("PostTypeId") == "1":
                out.append(Question(site, int(row.get("Id")), (row.get("Title") or "").strip(),
                                    html_to_md(row.get("Body") or "")))
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]
    return out


def word_count(text: str) -> int:
    return len(near_dup_text(text).split())


def band_of(words: int) -> str | None:
    for name, low, high in BANDS:
        if words >= low and (high is None or words < high):
            return name
    return None


def prose_words(text: str) -> list[tuple[int, int]]:
    """(start, end) of every editable word of `text` (see the module docstring)."""
    protected = [m.span() for m in _PROTECTED.finditer(text)]
    spans, p = [], 0
    for m in _WORD.finditer(text):
        while p < len(protected) and protected[p][1] <= m.start():
            p += 1
        if p < len(protected) and protected[p][0] < m.end():
            continue
        spans.append(m.span())
    return spans


class Vocabulary:
    """Casefolded prose words of the questions read, ranked by count (ties by the word)."""

    def __init__(self, texts: Sequence[str]):
        counts = Counter(text[s:e].casefold() for text in texts for s, e in prose_words(text))
        self.ranked = sorted(counts, key=lambda w: (-counts[w], w))
        self.rank = {w: i for i, w in enumerate(self.ranked)}
        self.counts = counts
        self.common = self.ranked[:INSERT_POOL]
        self.common_weights = [counts[w] for w in self.common]

    def similar(self, word: str, rng: random.Random) -> str | None:
        r = self.rank.get(word.casefold())
        if r is None:
            return None
        lo, hi = max(r - SUBSTITUTE_WINDOW, 0), min(r + SUBSTITUTE_WINDOW + 1, len(self.ranked))
        choices = [w for w in self.ranked[lo:hi] if w != word.casefold()]
        return rng.choice(choices) if choices else None

    def plural_flip(self, word: str) -> str | None:
        w = word.casefold()
        if len(w) >= 4 and w.endswith("s") and not w.endswith("ss") and w[:-1] in self.counts:
            return word[:-1]
        if len(w) >= 3 and w + "s" in self.counts:
            return word + ("S" if word.isupper() else "s")
        return None


def _keep_case(like: str, word: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _typo(word: str, rng: random.Random) -> tuple[str, str] | None:
    ops = []
    swaps = [i for i in range(len(word) - 1) if word[i].casefold() != word[i + 1].casefold()]
    if swaps:
        ops.append("swap")
    ops += ["drop", "double"]
    op = rng.choice(ops)
    if op == "swap":
        i = rng.choice(swaps)
        return "typo-swap", word[:i] + word[i + 1] + word[i] + word[i + 2:]
    i = rng.randrange(len(word))
    if op == "drop":
        return "typo-drop", word[:i] + word[i + 1:]
    return "typo-double", word[: i + 1] + word[i] + word[i + 1:]


@dataclass
class Corpus:
    """Real questions then planted copies (keys[i] names texts[i]); truth per planted copy;
    control pairs (their texts are not in `texts`)."""

    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    truth: list[dict] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}


def plant(question: Question, kind: str, n_edits: int, rng: random.Random, vocab: Vocabulary):
    """A copy of `question` with `n_edits` edits of `kind`: (text, edits), or None when it has too
    few words that the kind can edit."""
    text, title_end = question.text, len(question.title)
    spans = prose_words(text)
    if kind == "title-case":
        spans = [s for s in spans if s[1] <= title_end]
    if kind == "reorder":  # a word and the next one, one space apart
        spans = [(a[0], b[1]) for a, b in itertools.pairwise(spans) if b[0] == a[1] + 1 and text[a[1]] == " "]
    candidates = []
    for start, end in spans:
        word = text[start:end]
        if kind == "typo" and len(word) < 4:
            continue
        if kind == "plural" and vocab.plural_flip(word) is None:
            continue
        if kind == "substitute" and word.casefold() not in vocab.rank:
            continue
        if kind == "title-case" and word == word.swapcase():
            continue
        candidates.append((start, end))
    chosen: list[tuple[int, int]] = []
    for start, end in rng.sample(candidates, len(candidates)):
        if all(end <= s or start >= e for s, e in chosen):  # distinct, non-overlapping words
            chosen.append((start, end))
            if len(chosen) == n_edits:
                break
    if len(chosen) < n_edits:
        return None
    edits = []
    for start, end in sorted(chosen, reverse=True):  # right to left: earlier offsets stay valid
        old = text[start:end]
        op = kind
        if kind == "typo":
            op, new = _typo(old, rng)
        elif kind == "plural":
            new = vocab.plural_flip(old)
        elif kind == "substitute":
            new = _keep_case(old, vocab.similar(old, rng))
        elif kind == "delete":
            new = ""
            if end < len(text) and text[end] == " ":
                end += 1
            elif start > 0 and text[start - 1] == " ":
                start -= 1
            old = text[start:end]
        elif kind == "insert":
            new = rng.choices(vocab.common, vocab.common_weights)[0] + " " + old
        elif kind == "title-case":
            new = old[:1].upper() + old[1:] if old.islower() else old.lower()
        elif kind == "reorder":
            first, second = old.split(" ", 1)
            new = second + " " + first
        else:
            raise ValueError(f"unknown kind {kind!r}")
        where = "title" if start < title_end else "body"
        text = text[:start] + new + text[end:]
        edits.append({"op": op, "where": where, "old": old, "new": new, "at": start})
    edits.reverse()
    if kind != "title-case" and near_dup_text(text) == near_dup_text(question.text):
        return None
    return text.strip(), edits


def _notice(kind: str, target: Question, rng: random.Random) -> str:
    number = rng.randrange(1, 10**6)
    if kind == "notice-possible":
        return f"> **Possible Duplicate:**\\\n> [{target.title}](https://example.invalid/questions/{number}/x)\n\n"
    return (f"> **This question already has answers here**:\n>\n> - [{target.title}](/questions/{number}/x) "
            f"({rng.randrange(1, 12)} answers)\n> Closed {rng.randrange(2, 9)} years ago.\n\n")


def make_controls(questions: Sequence[Question], hosts: Sequence[int], n_pairs: int,
                  rng: random.Random) -> list[dict]:
    """`n_pairs` control pairs of each CONTROL_KINDS (fewer when hosts run out). The hosts of one
    kind's pairs are distinct questions drawn from `hosts` (indices of short questions)."""
    blocks = sorted({m.group(0) for q in questions for m in _FENCED.finditer(q.body) if m.group(0).count("\n") >= 3})
    titled = [i for i, q in enumerate(questions) if q.title]
    out = []
    for kind in CONTROL_KINDS:
        pool = [i for i in hosts if kind != "code-scaffold" or not _FENCED.search(questions[i].body)]
        rng.shuffle(pool)
        for a, b in list(zip(pool[0::2], pool[1::2]))[:n_pairs]:
            qa, qb = questions[a], questions[b]
            record = {"kind": kind, "a_source": qa.key, "b_source": qb.key}
            if kind == "code-scaffold":
                if not blocks:
                    break
                block = rng.choice(blocks)
                record["code_chars"] = len(block)
                text_a = compose(qa.title, qa.body + "\n\n" + block)
                text_b = compose(qb.title, qb.body + "\n\n" + block)
            else:
                target = questions[rng.choice(titled)]
                notice = _notice(kind, target, rng)
                record["target"] = target.key
                text_a, text_b = compose(qa.title, notice + qa.body), compose(qb.title, notice + qb.body)
            out.append({**record, "text_a": text_a, "text_b": text_b})
    return out


def make_reposts(root: Path | str | None = None, seed: int = 0, *, sites: Sequence[str] | None = None,
                 per_band: int | None = None, kinds: Sequence[str] = KINDS,
                 edit_counts: Sequence[int] = EDIT_COUNTS, bands: Sequence[str] | None = None,
                 controls: int = 100, questions: list[Question] | None = None) -> Corpus:
    """Real questions plus planted reposts, and control pairs (see the module docstring).

    `questions` skips reading the dumps (already read with read_questions). `bands` limits the
    bands planted in (names of BANDS); `controls` is the pairs per control kind.
    """
    root = Path(root) if root is not None else default_sites_root()
    names = site_names(root, sites)
    if questions is None:
        questions = read_questions(root, names)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; choose from {KINDS}")
    texts = [q.text for q in questions]
    vocab = Vocabulary(texts)
    words = [word_count(t) for t in texts]
    corpus = Corpus(keys=[q.key for q in questions], texts=list(texts))
    combos = [(k, n) for k in kinds for n in edit_counts]
    band_names = [b[0] for b in BANDS] if bands is None else list(bands)
    skipped: Counter = Counter()
    for name in band_names:
        rng = random.Random(f"{seed}/{name}")
        members = [i for i, w in enumerate(words) if band_of(w) == name]
        rng.shuffle(members)
        taken = 0
        for i in members:
            if per_band is not None and taken >= per_band:
                break
            kind, n = combos[taken % len(combos)]
            made = plant(questions[i], kind, n, rng, vocab)
            if made is None:
                skipped[f"{name}/{kind}/{n}"] += 1
                continue
            text, edits = made
            key = f"planted/{len(corpus.truth):06d}"
            corpus.keys.append(key)
            corpus.texts.append(text)
            corpus.truth.append({"id": key, "source_id": questions[i].key, "kind": kind, "edits": edits,
                                 "n_edits": n, "band": name, "source_words": words[i]})
            taken += 1
    if controls:
        hosts = [i for i, w in enumerate(words) if band_of(w) == "20-60"]
        corpus.controls = make_controls(questions, hosts, controls, random.Random(f"{seed}/controls"))
    corpus.info = {
        "seed": seed, "sites": names, "questions": len(questions), "planted": len(corpus.truth),
        "by_band": dict(Counter(t["band"] for t in corpus.truth)),
        "by_kind": dict(Counter(t["kind"] for t in corpus.truth)),
        "by_kind_edits": dict(Counter(f"{t['kind']}/{t['n_edits']}" for t in corpus.truth)),
        "skipped_sources": dict(skipped), "controls": dict(Counter(c["kind"] for c in corpus.controls)),
    }
    return corpus


def write(corpus: Corpus, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "texts.jsonl").open("w", encoding="utf-8") as f:
        for key, text in zip(corpus.keys, corpus.texts):
            f.write(json.dumps({"id": key, "text": text}, ensure_ascii=False) + "\n")
    with (out / "truth.jsonl").open("w", encoding="utf-8") as f:
        for t in corpus.truth:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    with (out / "controls.jsonl").open("w", encoding="utf-8") as f:
        for c in corpus.controls:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    (out / "reposts.json").write_text(json.dumps(corpus.info, indent=2) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for texts.jsonl, truth.jsonl, controls.jsonl")
    parser.add_argument("--data", type=Path, default=default_sites_root(), help="folder of <site>/Posts.xml")
    parser.add_argument("--sites", nargs="*", default=None, help=f"site folders (default: all but {SKIP_SITES})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-band", type=int, default=None, help="sources per length band (default: all)")
    parser.add_argument("--bands", nargs="*", default=None, choices=[b[0] for b in BANDS])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--controls", type=int, default=100, help="pairs per control kind")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        sys.exit(f"make_reposts: {args.data} is absent (the real dumps live beside the checkout)")
    corpus = make_reposts(args.data, args.seed, sites=args.sites, per_band=args.per_band, kinds=args.kinds,
                          bands=args.bands, controls=args.controls)
    write(corpus, args.out)
    print(json.dumps(corpus.info, indent=2))


if __name__ == "__main__":
    main()
