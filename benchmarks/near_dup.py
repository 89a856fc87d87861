"""Near-duplicate questions: the build's clustering against datatrove and datasketch, on the same
documents, the same character shingles and the same merge rule.

    pip install -e '.[bench]'                    # datatrove and datasketch
    python benchmarks/near_dup.py                # real dumps + planted reposts (make_reposts.py)
    python benchmarks/near_dup.py --seed 1 --repeat 3 --skip-datatrove
    python benchmarks/near_dup.py --corpus /tmp/corpus-100m     # a make_corpus.py corpus instead

Documents. By default: the questions of the real dumps in --data (all site folders but beer-2016)
plus one planted repost of every question of 20+ words, from benchmarks/make_reposts.py with
--seed (its docstring lists the edit kinds and length bands); the negative-control pairs of
make_reposts are clustered on their own, per method. With --corpus: the questions (PostTypeId 1)
of CORPUS/Posts.xml (or CORPUS/*/Posts.xml) and CORPUS/truth.jsonl from make_corpus.py. A
question's text is Title + "\\n\\n" + html_to_md(Body), stripped, as a build makes it. Reading,
conversion and planting are not timed.

Methods, all with MinHashParams() (character 5-grams of near_dup.near_dup_text(text), 32 bands
x 4 rows = 128 hash values, merge when MinHashParams.near passes on the exact shingle sets),
each timed from the list of texts to a cluster label per text, single-threaded:

  stackpref            stackpref.steps.clusters.cluster_texts(texts, MinHashParams()): exactly
                       what a build runs on the questions of one bucket (pass 1's text hash and
                       band keys, pass 3's verified_clusters: equal hashes, LSH candidates
                       screened by length and verified on their exact shingle sets, union-find)
  datatrove            datatrove's MinHash dedup as documented: MinhashDedupSignature ->
                       MinhashDedupBuckets -> MinhashDedupCluster(save_cluster_id=True), each
                       stage run by LocalPipelineExecutor(workers=1; 1, 32 and 1 tasks), on
                       Documents made from the texts, files in a temporary folder;
                       MinhashConfig(num_buckets=32, hashes_per_bucket=4), 64-bit xxhash. Its
                       signature step hashes near_dup.char_shingles(text, 5) with its own hash
                       function (get_shingles overridden; datatrove's own shingles are word
                       n-grams of its simplified text). Clusters are the labels of its .clusters
                       files. datatrove does not verify candidates: this row is its output as is.
  datatrove + check    the same signature and bucket stages, then its candidate pairs (the
                       .dups files) verified like datasketch's (below) and joined with
                       near_dup.union_find instead of MinhashDedupCluster: the fair row for
                       precision. Its time is signature + buckets + the check.
  datasketch           the shingles as UTF-8 bytes; MinHash.bulk(num_perm=128), MinHashLSH(
                       num_perm=128, params=(32, 4)) insert of every text then query of every
                       text; candidates verified with MinHashParams.near on the sizes of
                       Python sets of the shingles; components with near_dup.union_find.

Each method runs --repeat times and its best wall time is reported (this VM is noisy).

Scores on the reposts corpus (--corpus scores below):

  recall           per planted copy: it ends in one predicted cluster with its source. Per edit
                   kind and length band (the source's word count).
  precision        of the predicted pairs (two texts in one predicted cluster) that involve at least
                   one planted copy, the share inside one truth family (a source and its copy).
                   Per kind and band: the pairs that involve a copy of that kind and band.
  rule-consistent  of all predicted pairs, the share in one truth family or whose own exact
                   shingle sets pass MinHashParams.near (real near duplicates nobody planted,
                   e.g. a site's yearly template posts); the rest were merged by chaining or,
                   unverified, by LSH alone.
  controls merged  negative-control pairs (two different questions with the same duplicate
                   notice, or the same code block) in one predicted cluster, of all.

With --corpus (make_corpus truth: one line per planted question, kind "near" or "exact"):
recall per kind as above, and precision over all predicted pairs: a pair is correct when in one
truth family or when its exact shingle sets pass MinHashParams.near. --limit N keeps N questions
chosen with --seed so that planted pairs survive (whole truth families are sampled).
"""

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from lxml import etree

from stackpref.steps.clusters import cluster_texts
from stackpref.steps.near_dup import MinHashParams, char_shingles, pair_overlap, union_find
from stackpref.steps.text import html_to_md

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_reposts  # beside this script

# --- documents ------------------------------------------------------------------------------------


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
                texts.append(make_reposts.compose((row.get("Title") or "").strip(), html_to_md(row.get("Body") or "")))
            row.clear()
            while row.getprevious() is not None:
                del row.getparent()[0]
    return ids, texts


def read_truth(corpus: Path) -> list[dict]:
    path = corpus / "truth.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")] if path.is_file() else []


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


# --- methods: texts -> (labels, stats) -------------------------------------------------------------


def verify(texts: list[str], candidates, params: MinHashParams) -> list[tuple[int, int]]:
    """Candidate pairs whose exact shingle sets pass params.near (Python sets, shingled on demand)."""
    sets: dict[int, set[str]] = {}

    def shingles(i: int) -> set[str]:
        if i not in sets:
            sets[i] = set(char_shingles(texts[i], params.ngram))
        return sets[i]

    pairs = sorted(candidates)
    if not pairs:
        return []
    inter = np.array([len(shingles(i) & shingles(j)) for i, j in pairs])
    union = np.array([len(shingles(i)) + len(shingles(j)) for i, j in pairs]) - inter
    return [p for p, ok in zip(pairs, params.near(inter, union)) if ok]


def run_stackpref(texts: list[str], params: MinHashParams) -> tuple[np.ndarray, dict]:
    labels, stats = cluster_texts(texts, params)
    return labels, {"candidate_pairs": stats["candidate_pairs"], "verified_pairs": stats["verified_pairs"]}


def run_datasketch(texts: list[str], params: MinHashParams) -> tuple[np.ndarray, dict]:
    from datasketch import MinHash, MinHashLSH

    shingles = [[s.encode("utf-8") for s in char_shingles(t, params.ngram)] for t in texts]
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
    sets = [set(s) for s in shingles]
    pairs = sorted(candidates)
    inter = np.array([len(sets[i] & sets[j]) for i, j in pairs], dtype=np.int64)
    union = np.array([len(sets[i]) + len(sets[j]) for i, j in pairs], dtype=np.int64) - inter
    verified = [p for p, ok in zip(pairs, params.near(inter, union)) if ok]
    labels = union_find(len(texts), np.array(verified, dtype=np.int64).reshape(-1, 2))
    return labels, {"candidate_pairs": len(candidates), "verified_pairs": len(verified)}


def _datatrove_signature_class():
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature
    from datatrove.utils.word_tokenizers import WordTokenizer

    class NoWordTokenizer(WordTokenizer):
        """Never called: the shingles below are characters. Spares loading spaCy for English."""

        def word_tokenize(self, text):
            raise NotImplementedError

        sent_tokenize = span_tokenize = word_tokenize

    class CharShingleSignature(MinhashDedupSignature):
        """datatrove's signature step on stackpref's shingles: its get_shingles hashes the
        space-joined word n-grams of simplify_text(text) with self._hash_func; this one hashes
        near_dup.char_shingles(text, ngram) with the same function, so everything after (its
        permutations, bucket files, sorting) is datatrove's own. The shingles go in as UTF-8
        bytes: xxhash 4 refuses str, which datatrove 0.10.1's own get_shingles passes (the
        xxh64 of the UTF-8 bytes is what xxhash 3 computed for a str)."""

        def __init__(self, output_folder, config, ngram: int):
            super().__init__(output_folder, config, language=NoWordTokenizer("en"))
            self.ngram = ngram

        def get_shingles(self, text: str) -> np.ndarray:
            return np.fromiter((self._hash_func(s.encode("utf-8")) for s in char_shingles(text, self.ngram)),
                               dtype=np.uint64).reshape((-1, 1))

    return CharShingleSignature


def run_datatrove(texts: list[str], params: MinHashParams) -> dict:
    """Both datatrove rows from one run of its first two stages: {"times": per stage wall seconds,
    "cpu": per stage CPU seconds of this process, "raw": (labels, stats), "checked": (labels, stats)}."""
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster
    from datatrove.utils.hashing import HashConfig

    signature_step = _datatrove_signature_class()
    config = MinhashConfig(n_grams=params.ngram, num_buckets=params.bands, hashes_per_bucket=params.rows,
                           hash_config=HashConfig(precision=64, hash_fc="xxhash"))
    times, cpu = {}, {}
    with tempfile.TemporaryDirectory(prefix="near-dup-datatrove-") as tmp, \
            open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):  # its logs and progress bars
        began, began_cpu = time.perf_counter(), time.process_time()
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
        LocalPipelineExecutor([docs, signature_step(f"{tmp}/sigs", config, params.ngram)], tasks=1, workers=1,
                              logging_dir=f"{tmp}/logs/sigs").run()
        times["signature"] = time.perf_counter() - began
        cpu["signature"] = time.process_time() - began_cpu
        began, began_cpu = time.perf_counter(), time.process_time()
        LocalPipelineExecutor([MinhashDedupBuckets(f"{tmp}/sigs", f"{tmp}/buckets", config=config)],
                              tasks=params.bands, workers=1, logging_dir=f"{tmp}/logs/buckets").run()
        times["buckets"] = time.perf_counter() - began
        cpu["buckets"] = time.process_time() - began_cpu

        began, began_cpu = time.perf_counter(), time.process_time()
        LocalPipelineExecutor([MinhashDedupCluster(f"{tmp}/buckets", f"{tmp}/clusters", config=config,
                                                   save_cluster_id=True)],
                              tasks=1, workers=1, logging_dir=f"{tmp}/logs/clusters").run()
        labels = np.arange(len(texts), dtype=np.int64)
        path = Path(tmp) / "clusters" / "000000.clusters"
        if path.is_file():
            doc_cluster = np.fromfile(path, dtype="<u4").reshape(-1, 2).astype(np.int64)
            first = {}
            for doc, cluster in doc_cluster.tolist():
                first[cluster] = min(first.get(cluster, doc), doc)
            labels[doc_cluster[:, 0]] = [first[c] for c in doc_cluster[:, 1].tolist()]
        times["cluster"] = time.perf_counter() - began
        cpu["cluster"] = time.process_time() - began_cpu

        began, began_cpu = time.perf_counter(), time.process_time()
        dups = [np.fromfile(f, dtype="<u4").reshape(-1, 4) for f in sorted(Path(tmp, "buckets").glob("*.dups"))]
        dups = np.concatenate(dups) if dups else np.empty((0, 4), dtype=np.uint32)
        candidates = {(min(a, b), max(a, b)) for a, b in dups[:, [1, 3]].astype(np.int64).tolist() if a != b}
        verified = verify(texts, candidates, params)
        checked = union_find(len(texts), np.array(verified, dtype=np.int64).reshape(-1, 2))
        times["check"] = time.perf_counter() - began
        cpu["check"] = time.process_time() - began_cpu
    return {"times": times, "cpu": cpu,
            "raw": (labels, {"candidate_pairs": len(candidates), "verified_pairs": None}),
            "checked": (checked, {"candidate_pairs": len(candidates), "verified_pairs": len(verified)})}


def timed_runs(texts: list[str], params: MinHashParams, repeat: int, methods: list[str]) -> list[dict]:
    """Each method's best wall time of `repeat` runs (rounds interleave the methods) and its result:
    dicts name, seconds, cpu (this process's CPU seconds in that run), labels, stats."""
    best: dict[str, dict] = {}

    def keep(name, seconds, cpu, labels, stats, extra=None):
        if name not in best or seconds < best[name]["seconds"]:
            best[name] = {"name": name, "seconds": seconds, "cpu": cpu, "labels": labels, "stats": stats,
                          **(extra or {})}

    for _ in range(max(repeat, 1)):
        for method in methods:
            if method == "datatrove":
                result = run_datatrove(texts, params)
                t, c = result["times"], result["cpu"]
                for name, last, labels_stats in (("datatrove (unverified)", "cluster", result["raw"]),
                                                 ("datatrove + check", "check", result["checked"])):
                    keep(name, t["signature"] + t["buckets"] + t[last], c["signature"] + c["buckets"] + c[last],
                         *labels_stats, {"stages": t})
                continue
            began, cpu = time.perf_counter(), time.process_time()
            labels, stats = (run_stackpref if method == "stackpref" else run_datasketch)(texts, params)
            keep(method, time.perf_counter() - began, time.process_time() - cpu, labels, stats)
    return list(best.values())


def method_names(args) -> list[str]:
    names = ["stackpref"]
    if not args.skip_datatrove:
        names.append("datatrove")
    if not args.skip_datasketch:
        names.append("datasketch")
    return names


def version_of(name: str) -> str:
    if name.startswith("datatrove"):
        import datatrove

        return f"{name} {getattr(datatrove, '__version__', '')}".strip()
    if name == "datasketch":
        import datasketch

        return f"datasketch {datasketch.__version__}"
    return "stackpref (cluster_texts, the build's path)"


# --- scores ---------------------------------------------------------------------------------------


def cluster_pairs(labels: np.ndarray) -> np.ndarray:
    """Every unordered pair (i, j), i < j, of texts that share a label."""
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    sizes = np.diff(np.r_[starts, len(labels)])
    pairs = [(order[s + a], order[s + b]) for s, n in zip(starts, sizes) if n > 1
             for a in range(n) for b in range(a + 1, n)]
    pairs = np.sort(np.array(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    return pairs


def rule_passes(texts: list[str], pairs: np.ndarray, params: MinHashParams) -> np.ndarray:
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    return params.near(*pair_overlap(texts, pairs, params.ngram))


def score_reposts(labels: np.ndarray, corpus, params: MinHashParams) -> dict:
    index = corpus.index()
    n_real = len(corpus.texts) - len(corpus.truth)
    planted = np.array([(index[t["id"]], index[t["source_id"]]) for t in corpus.truth], dtype=np.int64)
    family = union_find(len(corpus.texts), planted)
    group = [(t["kind"], t["band"]) for t in corpus.truth]
    found = labels[planted[:, 0]] == labels[planted[:, 1]]
    recall = defaultdict(list)
    for g, hit in zip(group, found.tolist()):
        for key in (g, (g[0], "all"), ("all", g[1]), ("all", "all")):
            recall[key].append(hit)

    pairs = cluster_pairs(labels)
    same_family = family[pairs[:, 0]] == family[pairs[:, 1]]
    precision = defaultdict(lambda: [0, 0])  # key -> [correct, total]
    for (a, b), ok in zip(pairs.tolist(), same_family.tolist()):
        keys = set()
        for x in (a, b):
            if x >= n_real:
                kind, band = group[x - n_real]
                keys |= {(kind, band), (kind, "all"), ("all", band), ("all", "all")}
        for key in keys:
            precision[key][0] += ok
            precision[key][1] += 1
    unexplained = pairs[~same_family]
    consistent = int(same_family.sum()) + int(rule_passes(corpus.texts, unexplained, params).sum())
    return {"recall": {k: (float(np.mean(v)), len(v)) for k, v in recall.items()},
            "precision": {k: (c / n if n else float("nan"), n) for k, (c, n) in precision.items()},
            "pairs": len(pairs), "rule_consistent": consistent / len(pairs) if len(pairs) else float("nan")}


def control_merges(name: str, controls: list[dict], params: MinHashParams) -> dict[str, tuple[int, int]]:
    """Per control kind: (pairs merged, pairs), the method run on the control texts alone."""
    texts = [text for c in controls for text in (c["text_a"], c["text_b"])]
    if not texts:
        return {}
    if name.startswith("datatrove"):
        result = run_datatrove(texts, params)
        labels = result["raw" if "unverified" in name else "checked"][0]
    else:
        labels = (run_stackpref if name == "stackpref" else run_datasketch)(texts, params)[0]
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for k, c in enumerate(controls):
        out[c["kind"]][0] += int(labels[2 * k] == labels[2 * k + 1])
        out[c["kind"]][1] += 1
    return {k: tuple(v) for k, v in out.items()}


def score_corpus(labels, texts, ids, truth, params) -> dict:
    index = {int(q): i for i, q in enumerate(ids)}
    planted = [(index[t["id"]], index[t["source_id"]], t["kind"]) for t in truth
               if t["id"] in index and t["source_id"] in index]
    family = union_find(len(ids), np.array([(a, b) for a, b, _ in planted], dtype=np.int64).reshape(-1, 2))
    found = defaultdict(list)
    for a, b, kind in planted:
        found[kind].append(labels[a] == labels[b])
    pairs = cluster_pairs(labels)
    same = family[pairs[:, 0]] == family[pairs[:, 1]]
    false = int((~rule_passes(texts, pairs[~same], params)).sum())
    return {"planted": len(planted), "recall": float(np.mean([x for v in found.values() for x in v])) if planted else
            float("nan"), "by_kind": ", ".join(f"{k} {np.mean(v):.4f} of {len(v):,}" for k, v in found.items()),
            "pairs": len(pairs), "false_pairs": false,
            "precision": 1 - false / len(pairs) if len(pairs) else float("nan")}


# --- reports --------------------------------------------------------------------------------------


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"


def header(params: MinHashParams, args, docs: int) -> str:
    return (f"near-duplicate questions, {docs:,} documents; character {params.ngram}-grams, "
            f"{params.bands}x{params.rows} "
            f"LSH, merge rule MinHashParams.near (Jaccard >= {params.floor} and (<= {params.max_changed} shingles "
            f"differ or Jaccard >= {params.threshold})); best of {args.repeat} runs; python {sys.version.split()[0]}, "
            f"numpy {np.__version__}, {os.cpu_count()} CPUs")


def report_reposts(args, params: MinHashParams) -> None:
    start = time.perf_counter()
    corpus = make_reposts.make_reposts(args.data, args.seed, sites=args.sites, controls=args.controls)
    texts = corpus.texts
    print(f"made {len(texts):,} documents ({corpus.info['questions']:,} real questions of "
          f"{', '.join(corpus.info['sites'])}, {len(corpus.truth):,} planted reposts, seed {args.seed}) and "
          f"{len(corpus.controls)} control pairs in {time.perf_counter() - start:.1f}s (not timed)")
    runs = timed_runs(texts, params, args.repeat, method_names(args))
    print("\n" + header(params, args, len(texts)) + "\n")
    print("| method | seconds | CPU s | docs/s | stackpref's speed | candidates | verified | recall (all) "
          "| recall 20-60 "
          "| precision | rule-consistent pairs | controls merged (" + " / ".join(make_reposts.CONTROL_KINDS) + ") |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    scores = {}
    rate0 = len(texts) / runs[0]["seconds"]
    for run in runs:
        s = scores[run["name"]] = score_reposts(run["labels"], corpus, params)
        ctrl = control_merges(run["name"], corpus.controls, params)
        rate = len(texts) / run["seconds"]
        rec, rec_short = s["recall"][("all", "all")], s["recall"][("all", "20-60")]
        prec = s["precision"][("all", "all")]
        print(f"| {version_of(run['name'])} | {run['seconds']:.2f} | {run['cpu']:.2f} | {rate:,.0f} | "
              f"{rate0 / rate:.1f}x | "
              f"{run['stats']['candidate_pairs']:,} | {_count(run['stats']['verified_pairs'])} | {rec[0]:.4f} | "
              f"{rec_short[0]:.4f} | {prec[0]:.4f} ({prec[1]:,} pairs) | {s['rule_consistent']:.4f} "
              f"({s['pairs']:,}) | {' / '.join(f'{m}' for m, _ in ctrl.values())} of "
              f"{' / '.join(f'{n}' for _, n in ctrl.values())} |")
    for run in runs:
        if "stages" in run:
            stages = ", ".join(f"{k} {v:.2f}s" for k, v in run["stages"].items())
            print(f"\ndatatrove stages (best run of {run['name']}): {stages}")
            break

    bands = [b[0] for b in make_reposts.BANDS]
    kinds = sorted({t["kind"] for t in corpus.truth}, key=make_reposts.KINDS.index)
    columns = [*kinds, "all"]
    for title, metric in (("Recall per edit kind (columns) and length band (rows)", "recall"),
                          (("Precision per edit kind and length band: of the predicted pairs with a planted copy of "
                           "that kind and band, the share inside one truth family"), "precision")):
        print(f"\n{title}:\n")
        print("| method | band | " + " | ".join(columns) + " |")
        print("| --- | --- |" + " ---: |" * len(columns))
        if metric == "recall":
            for b in bands:
                counts = [f"{scores[runs[0]['name']]['recall'].get((k, b), (0, 0))[1]:,}" for k in columns]
                print(f"| planted copies | {b} | " + " | ".join(counts) + " |")
        for run in runs:
            for b in [*bands, "all"]:
                values = [scores[run["name"]][metric].get((k, b), (float("nan"), 0))[0] for k in columns]
                print(f"| {run['name']} | {b} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    print()
    for run in runs[1:]:
        print(f"stackpref / {run['name']} docs/s: {run['seconds'] / runs[0]['seconds']:.1f}x")


def report_corpus(args, params: MinHashParams) -> None:
    start = time.perf_counter()
    ids, texts = read_questions(args.corpus)
    truth = read_truth(args.corpus)
    ids, texts = sample(ids, texts, truth, args.limit, args.seed)
    print(f"read {len(texts):,} questions from {args.corpus} in {time.perf_counter() - start:.1f}s "
          f"(not timed); {len(truth):,} planted in truth.jsonl")
    runs = timed_runs(texts, params, args.repeat, method_names(args))
    print("\n" + header(params, args, len(texts)) + "\n")
    print("| method | docs | seconds | CPU s | docs/s | candidates | verified | predicted pairs | false pairs "
          "| precision "
          "| recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    notes = []
    for run in runs:
        s = score_corpus(run["labels"], texts, ids, truth, params)
        print(f"| {version_of(run['name'])} | {len(texts):,} | {run['seconds']:.2f} | {run['cpu']:.2f} | "
              f"{len(texts) / run['seconds']:,.0f} "
              f"| {run['stats']['candidate_pairs']:,} | {_count(run['stats']['verified_pairs'])} | {s['pairs']:,} | "
              f"{s['false_pairs']:,} | {s['precision']:.4f} | {s['recall']:.4f} ({s['planted']:,} planted) |")
        notes.append(f"{run['name']} recall by kind: {s['by_kind']}")
    print("\n" + "\n".join(notes) + "\n")
    for run in runs[1:]:
        print(f"stackpref / {run['name']} docs/s: {run['seconds'] / runs[0]['seconds']:.1f}x")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=None,
                        help="a folder made by benchmarks/make_corpus.py (default: real dumps + planted reposts)")
    parser.add_argument("--data", type=Path, default=make_reposts.default_sites_root(),
                        help="folder of <site>/Posts.xml for the reposts corpus")
    parser.add_argument("--sites", nargs="*", default=None, help="site folders (default: all but beer-2016)")
    parser.add_argument("--controls", type=int, default=100, help="negative-control pairs per kind")
    parser.add_argument("--limit", type=int, default=None, help="--corpus: questions to use (whole truth families)")
    parser.add_argument("--seed", type=int, default=0, help="make_reposts seed, or the --limit sample's")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best wall time is kept")
    parser.add_argument("--skip-datasketch", action="store_true")
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args(argv)
    params = MinHashParams()
    if args.corpus is not None:
        report_corpus(args, params)
    else:
        if not args.data.is_dir():
            sys.exit(f"near_dup benchmark: {args.data} is absent (the real dumps live beside the checkout)")
        report_reposts(args, params)


if __name__ == "__main__":
    main()
