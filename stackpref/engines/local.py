"""The `local` engine: tasks run in this process, or in a pool of worker processes on this machine.

A task is a small frozen dataclass with a `run()` (pipeline/read.py, route.py, process.py) over
files and Arrow/polars data, so the same code runs
inline (tiny inputs, tests, `--workers 1`) or in a pool of processes forked from a fork server
(never from this process: a fork would copy polars' thread pool mid-flight, which can deadlock
the child). The fork server imports the stage modules once, so each worker starts in
milliseconds instead of paying a second of imports. Results come back in submission order, so
the output never depends on which worker finished first.
"""

import os
import select
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

from stackpref import processes

PRELOAD = ["stackpref.pipeline.read", "stackpref.pipeline.route", "stackpref.pipeline.process"]  # imported once, in the fork server


def start_fork_server() -> None:
    """Start the fork server now, in the background: its imports (about a second) then overlap
    with the caller's own start-up instead of delaying the first task. Returns at once."""
    from multiprocessing import forkserver

    get_context("forkserver").set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()


def _set_environment(environment: dict[str, str], parent: int | None = None) -> None:
    """A worker's initializer: the build's environment, and a watch on the build's process."""
    os.environ.clear()
    os.environ.update(environment)
    if parent is not None:
        watch_parent(parent)


def watch_parent(parent: int) -> None:
    """End this process as soon as `parent` (the build's process) is gone. A worker is a child of
    the fork server, not of the build, and holds the pipes that keep the fork server (and through
    it the resource tracker) alive: without this, a build killed with -9 leaves them all running,
    idle, for good. A daemon thread waits on a pidfd (Linux), else checks the pid twice a second."""
    def wait() -> None:
        try:
            fd = os.pidfd_open(parent)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])  # readable once the process has exited
        else:
            while os.getppid() != 1 and processes.alive(parent):
                time.sleep(0.5)
        os._exit(1)

    if not processes.alive(parent):
        os._exit(1)
    threading.Thread(target=wait, name="stackpref-watch-parent", daemon=True).start()


def run_task(task):
    """What a worker does with a task (a module-level function, so the pool can pickle it)."""
    return task.run()


class Engine:
    """`imap(tasks)` yields each task's `run()` in order, with at most `2 * workers` tasks in flight
    so that a fast reader cannot fill memory ahead of slow workers."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = None
        if workers > 1:
            context = get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            # The fork server may have started long before this build (its environment is the one
            # its workers inherit): hand them this process's environment as it is now, so that,
            # e.g., credentials or an S3 endpoint set since are seen by the workers too. The pool
            # already uses the cores, so the tokenizer's own thread pool would only oversubscribe
            # them (one thread each measured 4-6% faster over a build), unless the user chose.
            environment = {"TOKENIZERS_PARALLELISM": "false", **os.environ}
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                             initializer=_set_environment, initargs=(environment, os.getpid()))

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, kind, *exc) -> None:
        if self._pool is None:
            return
        if kind is not None and not issubclass(kind, Exception):  # Ctrl-C, SIGTERM, SIGHUP: stop now
            for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                try:
                    process.kill()
                except (OSError, ValueError):
                    pass
        self._pool.shutdown(wait=True, cancel_futures=True)

    def imap(self, tasks: Iterable) -> Iterator:
        if self._pool is None:
            for task in tasks:
                yield task.run()
            return
        pending: deque[Future] = deque()
        for task in tasks:
            pending.append(self._pool.submit(run_task, task))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
