"""Does `stackpref build` scale? Peak memory and time at 1x and 5x input, and 1 against 2 workers.

    python benchmarks/scaling.py [--base-mb 100] [--corpus-dir DIR] [--repeat 3]

Corpora come from benchmarks/make_corpus.py (the real dumps in ../shared, copied with shifted ids
and perturbed text, with planted duplicates): BASE and 5 x BASE megabytes of Posts.xml, made in
--corpus-dir (kept there for reruns) or a temporary folder. Each build is a `stackpref build` run;
peak RSS is the largest sum over the process tree (see benchmarks/_measure.py).

Goals (issue "build at scale"): 5x/1x peak RSS <= 1.15 and wall time <= 5.5; 2 workers at least
1.7x faster than 1 on the same input (both sizes are shown: a build has about 1.5 s of fixed,
serial cost — start-up, the fork server's imports, manifest and card — that weighs on small inputs).

This machine is a shared VM: the same build varies by up to about 30% from run to run. With
--repeat N the four builds run N times, interleaved (so a slow stretch of the host hits all of
them alike), and each figure is the median of its N runs.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import run_sampled
from make_corpus import build_sites

HERE = Path(__file__).resolve().parent
STACKPREF = Path(sys.executable).parent / "stackpref"  # the console script: the path users take


def corpus(folder: Path, megabytes: int) -> Path:
    target = folder / f"corpus-{megabytes}m"
    if not (target / "Posts.xml").is_file():
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--out", str(target), "--size-mb",
                        str(megabytes), "--quiet"], check=True)
    return target / "Posts.xml"


def measure(posts: Path, workers: int, out: Path) -> dict:
    sites = [arg for entry in build_sites(posts.parent) for arg in ("--site", entry)]
    result = run_sampled([str(STACKPREF), "build", str(posts), "--out", str(out), "--workers", str(workers), "-q",
                          *sites])
    shutil.rmtree(out)
    return {**result, "mb": posts.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-mb", type=int, default=100, help="size of the 1x corpus (default 100)")
    parser.add_argument("--corpus-dir", type=Path, help="where the corpora are made and kept (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each build; the median is shown (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        small, large = corpus(folder, args.base_mb), corpus(folder, 5 * args.base_mb)
        builds = {"1x, 2 workers": (small, 2), "5x, 2 workers": (large, 2), "1x, 1 worker": (small, 1),
                  "5x, 1 worker": (large, 1)}
        samples: dict[str, list[dict]] = {name: [] for name in builds}
        for attempt in range(args.repeat):
            for number, (name, (posts, workers)) in enumerate(builds.items()):
                samples[name].append(measure(posts, workers, Path(tmp) / f"out-{attempt}-{number}"))
        runs = {name: {key: statistics.median(r[key] for r in rs) for key in ("seconds", "peak_mb", "mb")}
                for name, rs in samples.items()}
    print(f"medians of {args.repeat} interleaved run(s)\n")
    print("| build | Posts.xml MB | seconds | MB/s | peak RSS MB (all processes) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        print(f"| {name} | {r['mb']:,.0f} | {r['seconds']:.1f} | {r['mb'] / r['seconds']:.2f} | {r['peak_mb']:,.0f} |")
    one, five = runs["1x, 2 workers"], runs["5x, 2 workers"]
    print(f"\n5x / 1x: peak RSS {five['peak_mb'] / one['peak_mb']:.2f} (goal <= 1.15), "
          f"wall time {five['seconds'] / one['seconds']:.2f} (goal <= 5.5)")
    for size in ("1x", "5x"):
        ratio = runs[f"{size}, 1 worker"]["seconds"] / runs[f"{size}, 2 workers"]["seconds"]
        print(f"2 workers vs 1 at {size}: {ratio:.2f}x faster (goal >= 1.7)")


if __name__ == "__main__":
    main()
