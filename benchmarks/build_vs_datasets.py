"""stackpref build against the seed recipe's data steps done with `datasets`, on the same input.

    python benchmarks/build_vs_datasets.py [--size-mb 60] [--workers 0] [--repeat 3]

Input: a `stack-exchange-paired`-layout Parquet file (qid, question, date, metadata, response_j,
response_k) made here from the real dumps in ../shared: benchmarks/make_corpus.py writes a
Posts.xml of --size-mb (copies of the real sites with perturbed text, so no copy duplicates
another), and every pair of answers of a question with different scores becomes a row, higher
score first, texts converted to Markdown as in the Hub's set.

Baselines, the seed's steps (TRL stack_llama_2 `dpo_llama2.py`) with `datasets`, the length
filter fixed to count tokens: load_dataset("parquet"), map to prompt/chosen/rejected (batched,
every core), filter by token length, to_parquet. "seed's steps" keeps the seed's per-row filter
(`len(prompt) + len(chosen) <= max_length`, now in tokens); "batched" is the careful variant
(each text tokenized once per row in a batched map, then a filter on the lengths).
stackpref: `stackpref build` of the same file with the same tokenizer and limits; it also
deduplicates, clusters near-duplicate questions and splits by cluster.

Each side runs in a fresh subprocess; the table gives input rows/s and the peak RSS of the
process tree (sampled every 50 ms, see benchmarks/_measure.py). This machine is a shared VM whose
speed drifts by up to about 30%: the sides run --repeat times, interleaved, and the table shows
the medians.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import run_sampled

SITES = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"
MAX_PROMPT, MAX_LENGTH = 512, 1024

# Both baselines: load, map to prompt/chosen/rejected as the seed did.
PRELUDE = """
import sys, datasets
from transformers import AutoTokenizer
src, out, tok_dir, max_prompt, max_length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tok = AutoTokenizer.from_pretrained(tok_dir)
ds = datasets.load_dataset("parquet", data_files=src, split="train")
def to_pairs(rows):
    return {"prompt": ["Question: " + q + "\\n\\nAnswer: " for q in rows["question"]],
            "chosen": rows["response_j"], "rejected": rows["response_k"]}
ds = ds.map(to_pairs, batched=True, num_proc=NPROC, remove_columns=ds.column_names)
"""

# The seed's steps as it wrote them (load, map to prompt/chosen/rejected, a per-row length filter
# on prompt + response), with the lengths counted in tokens instead of characters.
SEED = PRELUDE + """
n = lambda text: len(tok(text).input_ids)
ds = ds.filter(lambda x: n(x["prompt"]) <= max_prompt and n(x["prompt"] + x["chosen"]) <= max_length
               and n(x["prompt"] + x["rejected"]) <= max_length, num_proc=NPROC)
ds.to_parquet(out)
print(len(ds))
"""

# The same steps done carefully with datasets: batched tokenization, each text once per row.
BATCHED = PRELUDE + """
def lengths(rows):
    return {k + "_len": [len(x) for x in tok(rows[k], add_special_tokens=(k == "prompt"))["input_ids"]]
            for k in ("prompt", "chosen", "rejected")}
ds = ds.map(lengths, batched=True, num_proc=NPROC)
ds = ds.filter(lambda r: r["prompt_len"] <= max_prompt and r["prompt_len"] + r["chosen_len"] + 1 <= max_length
               and r["prompt_len"] + r["rejected_len"] + 1 <= max_length, num_proc=NPROC)
ds.remove_columns(["prompt_len", "chosen_len", "rejected_len"]).to_parquet(out)
print(len(ds))
"""

STACKPREF = Path(sys.executable).parent / "stackpref"  # the console script: the path users take


def make_input(folder: Path, size_mb: int) -> tuple[Path, int]:
    """The paired-layout Parquet file, from a make_corpus Posts.xml read with stackpref's reader."""
    from collections import Counter

    import polars as pl

    from stackpref.pipeline.read import to_markdown
    from stackpref.sources.posts_xml import read_posts_xml
    from make_corpus import corpus_host

    corpus = folder / "corpus"
    subprocess.run([sys.executable, str(Path(__file__).parent / "make_corpus.py"), "--out", str(corpus),
                    "--size-mb", str(size_mb), "--quiet"], check=True)
    with open(corpus / "Posts.xml", "rb") as handle:
        chunks = iter(lambda: handle.read(1 << 20), b"")
        posts = pl.concat(pl.from_arrow(batch) for batch in read_posts_xml(chunks, site=corpus_host(None), source="corpus",
                                                                           skipped=Counter()))
    posts = posts.with_columns(pl.Series("body", to_markdown(posts["body"].to_list(), True)))
    questions = posts.filter(pl.col("post_type") == 1).select(
        "site", qid="post_id", date="creation_date", question=pl.col("title") + "\n\n" + pl.col("body"))
    answers = posts.filter(pl.col("post_type") == 2).select("site", qid="parent_id", score="score", text="body")
    pairs = answers.join(answers, on=["site", "qid"], suffix="_k").filter(pl.col("score") > pl.col("score_k"))
    table = pairs.join(questions, on=["site", "qid"]).select(
        "qid", "question", "date",
        metadata=pl.concat_list(pl.format("https://{}/questions/{}", "site", "qid"), pl.format("https://{}", "site")),
        response_j="text", response_k="text_k",
    ).sort("qid")
    path = folder / "paired.parquet"
    table.write_parquet(path)
    return path, table.height


def make_tokenizer(folder: Path, texts: list[str]) -> Path:
    """A byte-level BPE tokenizer trained on the input (no Hub download)."""
    from stackpref.training.tiny import train_tokenizer

    train_tokenizer(texts, vocab_size=8000).save_pretrained(folder / "tok")
    return folder / "tok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=60, help="Posts.xml made by make_corpus.py (default 60)")
    parser.add_argument("--workers", type=int, default=0, help="stackpref workers and datasets num_proc (0: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the median is shown (default 3)")
    args = parser.parse_args()
    if not SITES.is_dir():
        sys.exit(f"skipped: {SITES} is absent (the real dumps live beside the checkout)")
    import polars as pl

    from stackpref.engines import default_workers

    nproc = args.workers or default_workers()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src, rows = make_input(tmp, args.size_mb)
        sample = pl.read_parquet(src).head(20_000)
        tok = make_tokenizer(tmp, sample["question"].to_list() + sample["response_j"].to_list())
        limits = [str(tok), str(MAX_PROMPT), str(MAX_LENGTH)]
        commands = {
            name: [sys.executable, "-c", code.replace("NPROC", str(nproc)), str(src), str(tmp / "b.parquet"), *limits]
            for name, code in (("seed's steps with datasets (per-row token filter)", SEED),
                               ("same steps, batched tokenization", BATCHED))
        }
        commands["stackpref build"] = [
            str(STACKPREF), "build", str(src), "--out", str(tmp / "out"), "--tokenizer", str(tok),
            "--max-prompt-tokens", str(MAX_PROMPT), "--max-length", str(MAX_LENGTH), "--workers", str(nproc),
            "-q", "--overwrite"]
        samples: dict[str, list[dict]] = {name: [] for name in commands}
        for attempt in range(args.repeat):  # interleaved, so a slow stretch of the host hits every side alike
            for number, (name, command) in enumerate(commands.items()):
                # A fresh datasets cache each run: a rerun would otherwise load the previous run's results.
                cache = {"HF_DATASETS_CACHE": str(tmp / f"datasets-cache-{attempt}-{number}")}
                samples[name].append(run_sampled(command, env=cache))
        manifest = json.loads((tmp / "out" / "manifest.json").read_text())
        rows_out = {name: int(rs[-1]["stdout"].split()[-1]) for name, rs in samples.items() if name != "stackpref build"}
        rows_out["stackpref build"] = sum(manifest["counts"]["splits"]["pairs"].values())
        sides = [(name, {"seconds": statistics.median(r["seconds"] for r in rs),
                         "peak_mb": statistics.median(r["peak_mb"] for r in rs), "rows_out": rows_out[name]})
                 for name, rs in samples.items()]
        ours = sides[-1][1]
    print(f"input: {rows:,} paired rows (from a {args.size_mb} MB make_corpus Posts.xml), "
          f"tokenizer: byte-level BPE 8k, max_prompt {MAX_PROMPT}, max_length {MAX_LENGTH}, {nproc} processes; "
          f"medians of {args.repeat} interleaved run(s)")
    print("| side | seconds | input rows/s | rows out | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in sides:
        print(f"| {name} | {r['seconds']:.1f} | {rows / r['seconds']:,.0f} | {r['rows_out']:,} | {r['peak_mb']:,.0f} |")
    for name, r in sides[:2]:
        print(f"stackpref vs {name}: {r['seconds'] / ours['seconds']:.2f}x rows/s, "
              f"peak RSS ratio {ours['peak_mb'] / r['peak_mb']:.2f}")
    print(json.dumps({name: {k: v for k, v in r.items() if k != "stdout"} for name, r in sides} | {"rows": rows}))


if __name__ == "__main__":
    main()
