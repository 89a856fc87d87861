"""Near-duplicate questions: the build's clustering against datasketch, side by side on one corpus.

    python benchmarks/make_corpus.py --out /tmp/corpus-500m --size-mb 500
    python benchmarks/near_dup.py --corpus /tmp/corpus-500m [--limit 50000]

Reads the questions (PostTypeId 1) of CORPUS/Posts.xml (or CORPUS/*/Posts.xml) with lxml
iterparse; a question's text is Title + "\\n\\n" + Body converted with stackpref.steps.text.html_to_md.
Parsing and conversion are not timed. Then, on the same texts and with the same settings
(word 5-grams of normalize_for_hash(text).split(), 14 bands x 8 rows = 112 permutations, merge
when the true shingle Jaccard >= 0.8):

  stackpref   stackpref.steps.clusters.cluster_texts(texts, MinHashParams()): exactly what a build runs
              on the questions of one bucket (pass 1's text hash and band keys, then pass 3's
              verified_clusters: equal hashes, LSH candidates screened by length and verified by
              their true Jaccard, union-find)
  datasketch  the same shingles as UTF-8 bytes; MinHash.bulk (num_perm=112, its update_batch on
              each text, permutations shared), MinHashLSH(num_perm=112, params=(14, 8)) insert of
              every text then query of every text; candidates verified with the true Jaccard of
              Python sets of the byte shingles; components with stackpref.steps.near_dup.union_find.

Both timings cover everything from the texts to the cluster labels, single-threaded; each side
runs --repeat times and its best wall time is reported (this machine's timings are noisy).

Scores. Ground truth comes from CORPUS/truth.jsonl: one line per planted question (id,
source_id, kind "near"|"exact", jaccard). Questions linked by planted pairs form truth families.

  recall     planted pairs (id, source_id) with both questions loaded whose two questions end
             in one predicted cluster, over all such planted pairs.
  precision  over the predicted pairs (every unordered pair of questions in one predicted
             cluster): a pair is correct when its two questions are in one truth family or their
             true shingle Jaccard is >= the threshold (a real near duplicate nobody planted);
             any other pair is a false positive. Pairs merged only through a chain (A~B, B~C,
             A-C below the threshold, none planted) count as wrong: the stricter definition.
             The truth "jaccard" of make_corpus is measured on its own tokenization (tags as
             spaces), not on html_to_md text: a planted pair just under 0.8 here is unreachable
             by design, and counts against recall.

--limit N keeps N questions chosen with --seed so that planted pairs survive: whole truth
families are sampled (a source question together with its planted copies) rather than a prefix
of the file, in which make_corpus puts planted questions far from their sources.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from lxml import etree

from stackpref.steps.clusters import cluster_texts
from stackpref.steps.near_dup import MinHashParams, candidate_pairs, pair_jaccard, union_find
from stackpref.steps.text import html_to_md, normalize_for_hash


def read_questions(corpus: Path) -> tuple[list[int], list[str]]:
    files = [corpus / "Posts.xml"] if (corpus / "Posts.xml").is_file() else sorted(corpus.glob("*/Posts.xml"))
    if not files:
        sys.exit(f"near_dup benchmark: no Posts.xml in {corpus} or its subfolders "
                 "(make one with benchmarks/make_corpus.py)")
    ids, texts = [], []
    for path in files:
        for _, row in etree.iterparse(str(path), events=("end",), tag="row", resolve_entities=False,
                                      no_network=True, load_dtd=False, huge_tree=True):
            if row.get("PostTypeId") == "1":
                ids.append(int(row.get("Id")))
                texts.append((row.get("Title") or "") + "\n\n" + html_to_md(row.get("Body") or ""))
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]
    return ids, texts


def read_truth(corpus: Path) -> list[dict]:
    path = corpus / "truth.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")] if path.is_file() else []


def truth_families(ids: list[int], truth: list[dict]) -> np.ndarray:
    """Per loaded question, a label shared by the questions that planted pairs link (transitively)."""
    index = {q: i for i, q in enumerate(ids)}
    edges = [(index[t["id"]], index[t["source_id"]]) for t in truth if t["id"] in index and t["source_id"] in index]
    return union_find(len(ids), np.array(edges, dtype=np.int64).reshape(-1, 2))


def sample(ids: list[int], texts: list[str], truth: list[dict], limit: int | None, seed: int):
    if limit is None or limit >= len(ids):
        return ids, texts
    planted_by_source: dict[int, list[int]] = {}
    for t in truth:
        planted_by_source.setdefault(t["source_id"], []).append(t["id"])
    planted = {t["id"] for t in truth}
    position = {q: i for i, q in enumerate(ids)}
    sources = [q for q in ids if q not in planted]
    random.Random(seed).shuffle(sources)
    keep: list[int] = []
    for q in sources:
        if len(keep) >= limit:
            break
        keep.append(position[q])
        keep.extend(position[p] for p in planted_by_source.get(q, ()) if p in position)
    keep = sorted(keep[:limit])
    return [ids[i] for i in keep], [texts[i] for i in keep]


def byte_shingles(text: str, ngram: int) -> list[bytes]:
    """The shingles stackpref hashes, as the UTF-8 bytes datasketch takes."""
    words = normalize_for_hash(text).split()
    if 0 < len(words) < ngram:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + ngram]).encode() for i in range(len(words) - ngram + 1)]


def run_datasketch(texts: list[str], params: MinHashParams) -> tuple[np.ndarray, dict]:
    from datasketch import MinHash, MinHashLSH

    shingles = [byte_shingles(t, params.ngram) for t in texts]
    sets = [set(s) for s in shingles]
    minhashes = MinHash.bulk(shingles, num_perm=params.num_perm)
    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows))
    with lsh.insertion_session() as session:
        for i, m in enumerate(minhashes):
            if shingles[i]:  # like stackpref, texts without shingles are never candidates
                session.insert(i, m)
    candidates = set()
    for i, m in enumerate(minhashes):
        if shingles[i]:
            candidates.update((min(i, j), max(i, j)) for j in lsh.query(m) if j != i)
    verified = [(i, j) for i, j in candidates if len(sets[i] & sets[j]) >= params.threshold * len(sets[i] | sets[j])]
    labels = union_find(len(texts), np.array(sorted(verified), dtype=np.int64).reshape(-1, 2))
    return labels, {"candidate_pairs": len(candidates), "verified_pairs": len(verified)}


def cluster_pairs(labels: np.ndarray) -> np.ndarray:
    """Every unordered pair of indices that share a label."""
    return candidate_pairs(labels.astype(np.uint64)[:, None], window=len(labels) + 1)


def score(labels, texts, ids, truth, families, params) -> dict:
    index = {int(q): i for i, q in enumerate(ids)}
    planted = [(index[t["id"]], index[t["source_id"]], t["kind"]) for t in truth
               if t["id"] in index and t["source_id"] in index]
    found = {kind: [labels[a] == labels[b] for a, b, k in planted if k == kind] for kind in ("near", "exact")}
    pairs = cluster_pairs(labels)
    same_family = families[pairs[:, 0]] == families[pairs[:, 1]]
    unexplained = pairs[~same_family]
    similar = pair_jaccard(texts, unexplained, params.ngram) >= params.threshold
    false = int((~similar).sum())
    return {
        "planted": len(planted),
        "recall": sum(map(sum, found.values())) / len(planted) if planted else float("nan"),
        "by_kind": ", ".join(f"{kind} {np.mean(hit):.4f} of {len(hit):,}" for kind, hit in found.items() if hit),
        "pairs": len(pairs),
        "false_pairs": false,
        "precision": 1 - false / len(pairs) if len(pairs) else float("nan"),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, type=Path, help="folder made by benchmarks/make_corpus.py")
    parser.add_argument("--limit", type=int, default=None, help="questions to use (whole truth families, see above)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best wall time is kept")
    parser.add_argument("--skip-datasketch", action="store_true", help="time stackpref only")
    args = parser.parse_args(argv)
    params = MinHashParams()

    start = time.perf_counter()
    ids, texts = read_questions(args.corpus)
    truth = read_truth(args.corpus)
    ids, texts = sample(ids, texts, truth, args.limit, args.seed)
    families = truth_families(ids, truth)
    print(f"read {len(texts):,} questions from {args.corpus} in {time.perf_counter() - start:.1f}s "
          f"(not timed); {len(truth):,} planted in truth.jsonl")

    def timed(method, texts, params):
        best, result = float("inf"), None
        for _ in range(max(args.repeat, 1)):
            began = time.perf_counter()
            result = method(texts, params)
            best = min(best, time.perf_counter() - began)
        return (best, *result)

    runs = [("stackpref (build's path)", *timed(cluster_texts, texts, params))]
    if not args.skip_datasketch:
        import datasketch

        runs.append((f"datasketch {datasketch.__version__}", *timed(run_datasketch, texts, params)))

    print(f"\nnear-duplicate questions, {params.bands}x{params.rows} LSH, word {params.ngram}-grams, "
          f"verified at Jaccard >= {params.threshold}; best of {args.repeat} runs, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs\n")
    print("| method | docs | seconds | docs/s | candidates | verified | predicted pairs | false pairs | precision "
          "| recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rates, notes = [], []
    for name, seconds, labels, stats in runs:
        s = score(labels, texts, ids, truth, families, params)
        rates.append(len(texts) / seconds)
        print(f"| {name} | {len(texts):,} | {seconds:.2f} | {rates[-1]:,.0f} | {stats['candidate_pairs']:,} | "
              f"{stats['verified_pairs']:,} | {s['pairs']:,} | {s['false_pairs']:,} | {s['precision']:.4f} | "
              f"{s['recall']:.4f} ({s['planted']:,} planted) |")
        notes.append(f"{name} recall by kind: {s['by_kind']}")
    print("\n" + "\n".join(notes))
    if len(rates) == 2:
        print(f"\nspeed ratio (stackpref / datasketch docs/s): {rates[0] / rates[1]:.1f}x")


if __name__ == "__main__":
    main()
