"""Throughput of `stackpref build` on the six real dumps in ../shared: MB/s of Posts.xml read,
pairs/s written, and peak RSS, one site per run and all six in one run.

    python benchmarks/build_throughput.py [--repeat 3]
    python benchmarks/build_throughput.py --tokenizer ../shared/tokenizers/llama2 \
        [--chat-template training/recipes/llama2-chat.jinja]

With --tokenizer: all six in one build, counting characters, then tokens in the standard and the
conversational format (through the chat template, or --chat-template for a tokenizer without
one); the tokenizer's share is the time a build spends beyond the character-count build (loading
the tokenizer, rendering chat templates, tokenizing).

Each build runs in a fresh subprocess (so peak RSS is that build's own), and the best wall time
of --repeat runs is reported.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SITES = Path(__file__).resolve().parents[2] / "shared" / "data" / "stackexchange"

_CHILD = """
import json, resource, sys, time
import stackpref
import stackpref.pipeline.build  # imports are not input-size work: keep them out of the timing
from stackpref.config import resolve_config
start = time.perf_counter()
manifest = stackpref.build(resolve_config(sources=sys.argv[3:], out=sys.argv[1], **json.loads(sys.argv[2]))).manifest
seconds = time.perf_counter() - start
splits = manifest["counts"]["splits"]
print(json.dumps({
    "seconds": seconds,
    "pairs": splits["pairs"]["train"] + splits["pairs"]["test"],
    "sft": splits["sft"]["train"] + splits["sft"]["test"],
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "mb": sum(i["bytes"] for i in manifest["inputs"]) / 1e6,
}))
"""


def run_once(sources: list[Path], options: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(Path(tmp) / "out"), json.dumps(options), *map(str, sources)],
            capture_output=True, text=True, check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(sources: list[Path], repeat: int, options: dict | None = None) -> dict:
    runs = [run_once(sources, options or {}) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def tokenizer_rows(tokenizer: str, chat_template: str | None, repeat: int) -> None:
    """All six in one build: characters, then tokens in each format, with the tokenizer's share."""
    chat = {"chat_template": chat_template} if chat_template else {}
    rows = [("characters", {}), ("tokens, standard", {"tokenizer": tokenizer}),
            ("tokens, conversational", {"tokenizer": tokenizer, "format": "conversational", **chat})]
    print(f"all six in one build, --tokenizer {tokenizer}, best of {repeat}")
    print(f"| {'lengths':<24} | {'MB':>6} | {'seconds':>7} | {'MB/s':>6} | {'pairs':>6} | {'tokenizer share':>15} |")
    print(f"| {'-' * 24} | {'-' * 6}:| {'-' * 7}:| {'-' * 6}:| {'-' * 6}:| {'-' * 15}:|")
    base = None
    for name, options in rows:
        r = measure([SITES], repeat, options)
        base = base or r["seconds"]
        share = f"{1 - base / r['seconds']:.0%}" if options else "-"
        print(f"| {name:<24} | {r['mb']:>6.2f} | {r['seconds']:>7.2f} | {r['mb'] / r['seconds']:>6.2f} | "
              f"{r['pairs']:>6,} | {share:>15} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best wall time is kept")
    parser.add_argument("--tokenizer", help="a tokenizer folder: measure token-length builds instead of the sites")
    parser.add_argument("--chat-template", help="a Jinja chat template file, for a --tokenizer that has none")
    args = parser.parse_args()
    if not SITES.is_dir():
        sys.exit(f"skipped: {SITES} is absent (the real dumps live beside the checkout)")
    if args.tokenizer:
        tokenizer_rows(str(Path(args.tokenizer).resolve()), args.chat_template and str(Path(args.chat_template).resolve()),
                       args.repeat)
        return
    rows = [(site.name, [site]) for site in sorted(p for p in SITES.iterdir() if (p / "Posts.xml").is_file())]
    rows.append(("all six, one build", [SITES]))
    print(f"stackpref build throughput, best of {args.repeat} (python {sys.version.split()[0]})")
    print(f"| {'input':<24} | {'MB':>6} | {'seconds':>7} | {'MB/s':>6} | {'pairs':>6} | {'pairs/s':>8} | {'peak RSS MB':>11} |")
    print(f"| {'-' * 24} | {'-' * 6}:| {'-' * 7}:| {'-' * 6}:| {'-' * 6}:| {'-' * 8}:| {'-' * 11}:|")
    for name, sources in rows:
        r = measure(sources, args.repeat)
        print(
            f"| {name:<24} | {r['mb']:>6.2f} | {r['seconds']:>7.2f} | {r['mb'] / r['seconds']:>6.2f} | "
            f"{r['pairs']:>6,} | {r['pairs'] / r['seconds']:>8,.0f} | {r['peak_rss_mb']:>11.0f} |"
        )


if __name__ == "__main__":
    main()
