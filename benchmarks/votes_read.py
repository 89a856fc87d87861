"""Reading a site's Votes.xml: rate (MB/s) and peak memory at 1x and 5x its size, read alone (pass 1's
votes pieces through the local engine, as a build reads them) and in a whole `--score-window` build.

    python benchmarks/votes_read.py [--rows 4000000] [--scale 5] [--workers 2] [--corpus-dir DIR]

The Votes.xml files come from benchmarks/make_corpus.py --votes-rows (the real quantumcomputing-2018
Votes.xml repeated with shifted post ids, beside a 1 MB Posts.xml), ROWS and SCALE x ROWS rows, made
in --corpus-dir (kept for reruns) or a temporary folder. Peak RSS is the largest sum over the
process tree (benchmarks/_measure.py). Goal (issue 14): memory flat from 1x to 5x, since only
per-(post, day) partial sums of one piece are held at a time, and pass 2 sums at most
plan.JOIN_PARTIALS of them per task.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import run_sampled

HERE = Path(__file__).resolve().parent
STACKPREF = Path(sys.executable).parent / "stackpref"


def corpus(folder: Path, rows: int) -> Path:
    target = folder / f"votes-{rows}"
    if not (target / "Votes.xml").is_file():
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--out", str(target), "--size-mb", "1",
                        "--sites", "quantumcomputing-2018", "--votes-rows", str(rows), "--quiet"], check=True)
    return target


def build(posts: Path, workers: int, *options: str) -> tuple[dict, dict]:
    """A `stackpref build` of the corpus: its time and peak memory, and its manifest's vote counts."""
    with tempfile.TemporaryDirectory() as out:
        run = run_sampled([str(STACKPREF), "build", str(posts), "--out", f"{out}/o", "-q", "--site",
                           f"{posts}=corpus.bench.invalid", "--workers", str(workers), *options])
        counts = json.loads(Path(out, "o", "manifest.json").read_text())["counts"]["question_clusters"]
    return run, counts.get("votes")


def read_only(location: str, workers: int) -> dict:
    """Pass 1 on the votes alone: every piece spilled as partial sums by the local engine."""
    from stackpref.engines import open_engine
    from stackpref.pipeline.read import SpillTask
    from stackpref.sources import votes

    start, counts, partials = time.perf_counter(), {}, 0
    with tempfile.TemporaryDirectory() as spill, open_engine("local", workers) as engine:
        tasks = (SpillTask(piece, f"{spill}/{n:06d}.parquet", None, False)
                 for n, piece in enumerate(votes.ranges(location)))
        for result in engine.imap(tasks):
            partials += result["partials"]
            for name, value in result["counts"].items():
                counts[name] = counts.get(name, 0) + value
    return {"seconds": time.perf_counter() - start, "partials": partials, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4_000_000, help="votes in the 1x file (default 4,000,000)")
    parser.add_argument("--scale", type=int, default=5, help="the larger file has this many times the rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpus-dir", type=Path, default=None)
    parser.add_argument("--read", help=argparse.SUPPRESS)  # the child: read this Votes.xml, print JSON
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read_only(args.read, args.workers)))
        return
    folder = args.corpus_dir or Path(tempfile.mkdtemp(prefix="votes-bench-"))
    print("| rows | Votes.xml MB | what | seconds | MB/s | peak RSS MB |\n| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as bare:  # the same Posts.xml without its Votes.xml: the build's own baseline
        Path(bare, "Posts.xml").symlink_to(corpus(folder, args.rows) / "Posts.xml")
        run, _ = build(Path(bare, "Posts.xml"), args.workers)
        print(f"| 0 | 0 | build, no Votes.xml (baseline) | {run['seconds']:.1f} | | {run['peak_mb']:,.0f} |", flush=True)
    for rows in (args.rows, args.rows * args.scale):
        site = corpus(folder, rows)
        megabytes = (site / "Votes.xml").stat().st_size / 1e6
        read = run_sampled([sys.executable, __file__, "--read", str(site / "Votes.xml"), "--workers",
                            str(args.workers)])
        inner = json.loads(read["stdout"])
        assert inner["votes_read"] == rows, inner
        print(f"| {rows:,} | {megabytes:,.0f} | read (pass 1) | {inner['seconds']:.1f} | "
              f"{megabytes / inner['seconds']:.1f} | {read['peak_mb']:,.0f} |", flush=True)
        run, votes = build(site / "Posts.xml", args.workers, "--score-window", "30")
        assert votes["votes_read"] == rows, votes
        print(f"| {rows:,} | {megabytes:,.0f} | build --score-window 30 | {run['seconds']:.1f} | "
              f"{megabytes / run['seconds']:.1f} | {run['peak_mb']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
