"""Disk a build needs, measured against what its preflight asks for (output/preflight.py).

Before any work, `stackpref build` refuses an OUT or --tmp-dir without room for SPILL_FACTOR x the
inputs' text (spill files) plus OUTPUT_FACTOR x it (the output). This runs real builds with the
spill in its own --tmp-dir, samples the bytes under the tmp dir and the staging folder beside OUT
every 50 ms, and prints the peaks as multiples of the inputs' text, beside the factors:

    python benchmarks/disk_use.py ../shared/data/stackexchange
    python benchmarks/make_corpus.py --out /tmp/corpus-200m --size-mb 200 --quiet
    python benchmarks/disk_use.py /tmp/corpus-200m --site /tmp/corpus-200m/Posts.xml=corpus.bench.invalid

Extra arguments go to `stackpref build` as they are. A preflight factor below a measured peak
would let a build start that then fills the disk; far above it refuses builds that would fit.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stackpref.config import BuildConfig
from stackpref.output.preflight import OUTPUT_FACTOR, SPILL_FACTOR, text_bytes
from stackpref.pipeline.build import _resolve


def tree_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512  # what the disk holds
            except OSError:
                continue  # removed while walking
    return total


def measure(sources: list[str], extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="disk-use-") as work:
        work = Path(work)
        spill, out = work / "spill", work / "out" / "build"
        spill.mkdir()
        out.parent.mkdir()
        peaks = {"spill": 0, "staging": 0, "both": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                s, o = tree_bytes(spill), tree_bytes(out.parent)
                peaks["spill"], peaks["staging"] = max(peaks["spill"], s), max(peaks["staging"], o)
                peaks["both"] = max(peaks["both"], s + o)
                time.sleep(0.05)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        command = [sys.executable, "-c", "from stackpref.cli import main; main()", "build", *sources, "--out", str(out), "--tmp-dir",
                   str(spill), "-q", *extra]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - start
        done.set()
        watcher.join()
        return {**peaks, "output": tree_bytes(out), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+")
    args, extra = parser.parse_known_args()
    sites = [extra[i + 1] for i, arg in enumerate(extra[:-1]) if arg == "--site"]
    found, _ = _resolve(BuildConfig(sources=args.sources, site=sites))
    text = text_bytes(found)
    got = measure(args.sources, extra)
    mb = 1e6
    print(f"inputs' text (the preflight's estimate): {text / mb:,.1f} MB; build took {got['seconds']:.1f} s")
    print("| what | peak MB | x text | preflight asks |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| spill (--tmp-dir) | {got['spill'] / mb:,.1f} | {got['spill'] / text:.2f} | {SPILL_FACTOR:g}x |")
    print(f"| staging beside OUT | {got['staging'] / mb:,.1f} | {got['staging'] / text:.2f} | {OUTPUT_FACTOR:g}x |")
    print(f"| both at once | {got['both'] / mb:,.1f} | {got['both'] / text:.2f} | {SPILL_FACTOR + OUTPUT_FACTOR:g}x |")
    print(f"| final output | {got['output'] / mb:,.1f} | {got['output'] / text:.2f} | |")


if __name__ == "__main__":
    main()
