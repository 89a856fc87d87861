"""Run a command and sample the memory of its whole process tree (shared by the benchmarks).

The peak is the largest sum of RSS over the tree (main process, fork server, workers), sampled
every 50 ms. A page shared by several processes (a fork server and the workers forked from it
share their imported modules) counts once per process, so the sum overstates a pool somewhat;
PSS would not, but reading it (smaps) costs enough CPU to slow what is being measured.
"""

import os
import subprocess
import time

import psutil


def run_sampled(command: list[str], interval: float = 0.05, env: dict[str, str] | None = None) -> dict:
    """Wall seconds, peak RSS sum over the tree (MB), and stdout; raises on failure. `env`: extra
    environment variables for the command."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        for p in [parent, *parent.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                continue
        peak = max(peak, total)
        time.sleep(interval)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{command[0]} failed with exit {proc.returncode}:\n{err[-3000:]}")
    return {"seconds": time.perf_counter() - start, "peak_mb": peak / 2**20, "stdout": out}
