"""Peak memory of LSH candidate pairs when questions share almost every band (near-identical
questions, the plan's worst case), the working tree against a ref, each in a fresh process.

    python benchmarks/candidate_pairs_memory.py --ref 49bce98 [--questions 110000]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEASURE = """
import resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from stackpref.steps.near_dup import candidate_pairs
n = int(sys.argv[2])
keys = np.full((n, 32), 12345, dtype=np.uint64)
keys[:, 0] = np.arange(n)  # one band differs, the other 31 are shared by every question
start = time.perf_counter()
pairs = candidate_pairs(keys)
print(len(pairs), time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)
"""


def run(root: Path, questions: int) -> tuple[int, float, int]:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(root), str(questions)], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="git ref to compare with (the baseline)")
    parser.add_argument("--questions", type=int, default=110_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.ref, "stackpref"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        rows = [("working tree", run(REPO, args.questions)), (args.ref, run(Path(old), args.questions))]
    print("| code | pairs | seconds | peak RSS MB |\n| --- | ---: | ---: | ---: |")
    for name, (pairs, seconds, peak) in rows:
        print(f"| {name} | {pairs:,} | {seconds:.1f} | {peak:,} |")


if __name__ == "__main__":
    main()
