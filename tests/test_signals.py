"""A build stopped by a signal leaves nothing behind: kill -9 at several points of a real build (the
shared dumps, with a worker pool and a --tmp-dir), then SIGTERM and SIGHUP. After each, OUT is absent
(or a complete, valid build), no process of the build runs 5 s later, and the next build removes
what a killed one could not (its staging folder beside OUT, its spill folder in --tmp-dir)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SHARED_SITES, needs_shared

from stackpref.output.validate import validate_build

pytestmark = needs_shared

BUILD = [sys.executable, "-c", "from stackpref.cli import main; main()", "build"]


def _start(out: Path, spill: Path, *extra: str) -> subprocess.Popen:
    """A build of the shared dumps with two workers; progress goes to a pipe: plain lines, one
    per step start, which tell where the build is."""
    return subprocess.Popen([*BUILD, str(SHARED_SITES), "--out", str(out), "--workers", "2", "--tmp-dir", str(spill),
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _wait_for(proc: subprocess.Popen, marker: str) -> list[str]:
    """stderr lines up to and including the first holding `marker`."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if marker in line:
            return lines
    pytest.fail(f"the build ended before {marker!r}: {''.join(lines)}")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))):
            parents[int(entry.name)] = found[1]
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree - {root}


def _running(pids: set[int]) -> set[int]:
    return {pid for pid in pids if (found := _stat(pid)) and found[0] != "Z"}


def _assert_processes_end(pids: set[int], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while _running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _running(pids)
    assert not left, f"still running {within} s after the build stopped: " + "; ".join(
        Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120] for pid in left)


def _leftovers(out: Path, spill: Path) -> list[Path]:
    return [*out.parent.glob(f".{out.name}.*.tmp"), *out.parent.glob(f".{out.name}.*.old"),
            *spill.glob("stackpref-spill-*")]


def _out_absent_or_valid(out: Path) -> None:
    if out.exists():
        validate_build(out)


@pytest.mark.parametrize("marker", ["read quantumcomputing", "route rows", "verify clusters", "leakage check"])
def test_kill_9_leaves_nothing_the_next_build_does_not_clean(tmp_path, marker):
    out, spill = tmp_path / "out", tmp_path / "spill"
    spill.mkdir()
    proc = _start(out, spill)
    _wait_for(proc, marker)
    processes = _descendants(proc.pid)
    assert processes, "a build with --workers 2 runs a fork server and workers"
    proc.kill()
    proc.wait(10)
    proc.stderr.close()
    _out_absent_or_valid(out)
    _assert_processes_end(processes)

    again = subprocess.run([*BUILD, str(SHARED_SITES), "--out", str(out), "--workers", "2", "--tmp-dir", str(spill),
                            "--overwrite"], check=False, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not _leftovers(out, spill)
    validate_build(out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_as_ctrl_c_does(tmp_path, signum):
    out, spill = tmp_path / "out", tmp_path / "spill"
    spill.mkdir()
    proc = _start(out, spill)
    _wait_for(proc, "read cardano")
    assert _leftovers(out, spill), "the build has staged and spilled by now"
    processes = _descendants(proc.pid)
    proc.send_signal(signum)
    rest = proc.stderr.read()
    assert proc.wait(30) == 128 + signum
    proc.stderr.close()
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == f"stackpref: stopped by {signal.Signals(signum).name}; nothing was written"
    assert not out.exists()
    assert not _leftovers(out, spill)
    assert not (out.parent / f".{out.name}.lock").exists()
    _assert_processes_end(processes)


def test_a_live_builds_spill_folder_is_kept(tmp_path):
    """Only spill folders of builds that are gone are removed: one of a running process stays."""
    from stackpref.pipeline.build import SPILL_OWNER, _owner, _remove_stale_spills

    live = tmp_path / f"stackpref-spill-{os.getpid()}-x"
    live.mkdir()
    (live / SPILL_OWNER).write_text(__import__("json").dumps(_owner()))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"stackpref-spill-{gone.pid}-y"
    dead.mkdir()
    (dead / SPILL_OWNER).write_text(__import__("json").dumps({**_owner(), "pid": gone.pid}))
    foreign = tmp_path / "stackpref-spill-unmarked"
    foreign.mkdir()
    _remove_stale_spills(tmp_path)
    assert live.is_dir() and foreign.is_dir() and not dead.exists()
