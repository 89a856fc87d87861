"""The ray engine against the local one on this machine: the same build, side by side.

    python benchmarks/engines.py [--size-mb 500] [--corpus-dir DIR] [--workers 2]

The corpus is made by benchmarks/make_corpus.py from the real dumps in ../shared (kept in
--corpus-dir for reruns). Each engine builds it in a child process whose whole tree is sampled
for memory (see _measure.py; the ray row counts Ray's own processes, its object store is shared
memory and not in RSS). The ray engine starts its own Ray instance with --workers CPUs, as
`stackpref build --engine ray` does, so its start-up is in its time. The child also records when
each step of the build began, which gives the per-stage rates the README's cost estimate uses.
The two outputs are compared byte for byte.

Goal (issue "the ray engine"): ray's wall time at most 1.5x local's on the same machine.
"""

import argparse
import filecmp
import json
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from _measure import run_sampled
from make_corpus import build_sites
from scaling import corpus

# The build's progress steps, by the first word of their description.
STAGES = {"read": "read", "plan:": "plan", "route": "route", "verify": "process", "leakage": "finish"}


def child(engine: str, posts: str, out: str, workers: int) -> None:
    """Build in this process and print when each step began (seconds from the start)."""
    started = time.perf_counter()
    import stackpref.pipeline.build as pipeline
    from stackpref.config import BuildConfig

    marks: list[tuple[str, float]] = []

    class Timed(pipeline.Progress):
        def step(self, description: str) -> None:
            marks.append((STAGES.get(description.split()[0], description), time.perf_counter() - started))

    pipeline.Progress = Timed
    pipeline.build(BuildConfig(sources=[posts], site=build_sites(Path(posts).parent), out=out, engine=engine,
                               workers=workers))
    marks.append(("end", time.perf_counter() - started))
    print(json.dumps(marks))


def stage_seconds(marks: list) -> dict[str, float]:
    """Seconds per stage; what comes before the first step (imports, the engine's start) is `start`."""
    seconds = {"start": marks[0][1]}
    for (name, at), (_, until) in pairwise(marks):
        seconds[name] = seconds.get(name, 0.0) + until - at
    return seconds


def same_output(one: Path, two: Path) -> bool:
    names = sorted(str(p.relative_to(one)) for p in one.rglob("*.parquet")) + ["README.md"]
    return names == sorted(str(p.relative_to(two)) for p in two.rglob("*.parquet")) + ["README.md"] and all(
        filecmp.cmp(one / n, two / n, shallow=False) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=500, help="Posts.xml size of the corpus (default 500)")
    parser.add_argument("--corpus-dir", type=Path, help="where the corpus is made and kept (default: a temp dir)")
    parser.add_argument("--workers", type=int, default=2, help="CPUs for either engine (default 2: this machine)")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "POSTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.workers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        posts = corpus(folder, args.size_mb)
        mb = posts.stat().st_size / 1e6
        runs = {}
        for engine in ("local", "ray"):
            out = Path(tmp) / engine / "out"  # the same folder name: the card names the output by it
            result = run_sampled([sys.executable, __file__, "--child", engine, str(posts), str(out),
                                  "--workers", str(args.workers)])
            runs[engine] = {**result, "stages": stage_seconds(json.loads(result["stdout"].strip().splitlines()[-1]))}
        identical = same_output(Path(tmp) / "local" / "out", Path(tmp) / "ray" / "out")
    names = ["start", "read", "plan", "route", "process", "finish"]
    print(f"Posts.xml: {mb:,.0f} MB, {args.workers} workers\n")
    print("| engine | seconds | MB/s | peak RSS MB | " + " | ".join(f"{n} s" for n in names) + " |")
    print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in names) + " |")
    for engine, r in runs.items():
        print(f"| {engine} | {r['seconds']:.1f} | {mb / r['seconds']:.2f} | {r['peak_mb']:,.0f} | "
              + " | ".join(f"{r['stages'].get(n, 0.0):.1f}" for n in names) + " |")
    local, ray = runs["local"], runs["ray"]
    print(f"\nray / local wall time: {ray['seconds'] / local['seconds']:.2f} (goal <= 1.5); "
          f"outputs byte-identical: {identical}")
    print("per-stage rates, MB of Posts.xml per second per worker: " + ", ".join(
        f"{n} {mb / local['stages'][n] / args.workers:.2f}" for n in ("read", "route", "process")))


if __name__ == "__main__":
    main()
