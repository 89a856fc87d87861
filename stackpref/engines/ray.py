"""The `ray` engine: the build's tasks run as Ray tasks, for a build past one machine.

It schedules exactly what the local engine schedules (one task per byte range of a dump, per
run of spill files to route, per bucket to process), with the same in-order results and the same bound
on tasks in flight, so the two engines cannot disagree. Data moves between the passes through
the spill folder, which on a cluster must be storage every node reaches (`--tmp-dir s3://...`):
pass 2 writing rows into bucket folders and pass 3 reading one bucket is the shuffle.
"""

import os
from collections import deque
from collections.abc import Iterable, Iterator

from stackpref.engines.local import run_task
from stackpref.errors import StackprefError
from stackpref.extras import require


class RayEngine:
    """Connects to `address` (a running cluster, or `auto`; RAY_ADDRESS when set), else starts a
    local Ray instance with `workers` CPUs (every core when 0) and stops it on exit. One already
    initialized in this process (a test's, a notebook's) is used as it is and left running."""

    def __init__(self, workers: int, address: str | None):
        require("ray", "ray")
        import ray

        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            joining = address or os.environ.get("RAY_ADDRESS")  # set for a driver run by `ray job submit`
            ray.init(address=address, num_cpus=None if joining else (workers or None),
                     include_dashboard=False, logging_level="warning")
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._run = ray.remote(run_task)

    def __enter__(self) -> "RayEngine":
        return self

    def __exit__(self, *exc) -> None:
        if self._owned:
            self._ray.shutdown()

    def imap(self, tasks: Iterable) -> Iterator:
        pending: deque = deque()
        try:
            for task in tasks:
                pending.append(self._run.remote(task))
                if len(pending) >= 2 * self.workers:
                    yield self._get(pending.popleft())
            while pending:
                yield self._get(pending.popleft())
        finally:
            self._stop(list(pending))

    def _stop(self, refs: list) -> None:
        """After an error, cancel the tasks still in flight and wait until they have stopped, so that
        none writes into the spill folder while the build removes it (a cluster this engine did
        not start keeps running them otherwise)."""
        if refs:
            for ref in refs:
                self._ray.cancel(ref)
            self._ray.wait(refs, num_returns=len(refs), timeout=60)

    def _get(self, ref):
        """The task's result; a stackpref error raised in a task comes back as itself, so the CLI
        prints its one line and exits with its code, as with the local engine."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, StackprefError):
                raise exc.cause from None
            raise
