"""Is a refactor as fast as the code before it? `stackpref build` of a git ref against the working
tree, on the same inputs, interleaved, median of --repeat runs.

    python benchmarks/refactor_speed.py --ref 23d7be5 [--size-mb 20 100] [--repeat 3]

Inputs: a make_corpus.py Posts.xml of each --size-mb (the input of scaling.py), and the
stack-exchange-paired Parquet table that same_output.py makes from beer-2017 (the input kind of
build_vs_datasets.py). Each build runs in a fresh process with 2 workers; the ref's code comes from
a temporary git worktree on PYTHONPATH (see same_output.py). Rounds alternate which side goes
first, so a slow stretch of this shared VM hits both alike. Prints seconds and peak RSS (sum over
the process tree) per input and side, and the after/before ratios.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import run_sampled
from make_corpus import build_sites
from same_output import ROOT, SHARED, importable, paired_table

HERE = Path(__file__).resolve().parent
# --site for a make_corpus Posts.xml (sys.argv[4], JSON), left out for a version without the option.
_BUILD = ("import dataclasses, json, sys, stackpref; assert stackpref.__file__.startswith(sys.argv[1]); "
          "from stackpref.config import BuildConfig, resolve_config; "
          "site = {'site': json.loads(sys.argv[4])} if 'site' in {f.name for f in dataclasses.fields(BuildConfig)} else {}; "
          "stackpref.build(resolve_config(sources=[sys.argv[2]], out=sys.argv[3], workers=2, **site))")


def build(code: Path, source: Path, out: Path) -> dict:
    sites = build_sites(source.parent) if source.name == "Posts.xml" else []
    result = run_sampled([sys.executable, "-c", _BUILD, str(code), str(source), str(out), json.dumps(sites)],
                         env={"PYTHONPATH": str(code)})
    subprocess.run(["rm", "-rf", str(out)], check=True)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git ref of the code before the refactor")
    parser.add_argument("--size-mb", type=int, nargs="+", default=[20, 100], help="corpus sizes (default 20 100)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians shown (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stackpref-speed-") as tmp:
        tmp = Path(tmp)
        os.chdir(tmp)  # so that `python -c` does not import the working tree from the current folder
        worktree = tmp / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.ref],
                       check=True, capture_output=True)
        try:
            inputs = {"paired table (beer-2017)": paired_table(SHARED / "beer-2017" / "Posts.xml", tmp / "paired.parquet")}
            for size in args.size_mb:
                folder = tmp / f"corpus-{size}"
                subprocess.run([sys.executable, str(HERE / "make_corpus.py"), "--out", str(folder), "--size-mb",
                                str(size), "--quiet"], check=True)
                inputs[f"Posts.xml {size} MB"] = folder / "Posts.xml"
            sides = {"before": importable(worktree), "after": ROOT}
            samples = {(name, side): [] for name in inputs for side in sides}
            for attempt in range(args.repeat):
                order = list(sides) if attempt % 2 == 0 else list(reversed(sides))
                for name, source in inputs.items():
                    for side in order:
                        samples[name, side].append(build(sides[side], source, tmp / "out"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    medians = {key: {m: statistics.median(r[m] for r in runs) for m in ("seconds", "peak_mb")}
               for key, runs in samples.items()}
    print(f"stackpref build, 2 workers, medians of {args.repeat} interleaved rounds; before = {args.ref}\n")
    print("| input | before s | after s | after/before time | before peak MB | after peak MB | after/before RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in inputs:
        b, a = medians[name, "before"], medians[name, "after"]
        print(f"| {name} | {b['seconds']:.2f} | {a['seconds']:.2f} | {a['seconds'] / b['seconds']:.2f} | "
              f"{b['peak_mb']:,.0f} | {a['peak_mb']:,.0f} | {a['peak_mb'] / b['peak_mb']:.2f} |")
    print("\n" + json.dumps({f"{n} / {s}": v for (n, s), v in medians.items()}))


if __name__ == "__main__":
    main()
