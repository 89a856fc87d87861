"""Where the build's tasks run: `local` (this machine's cores) or `ray` (a Ray cluster). Both take
the same tasks (frozen dataclasses with `run()`) and yield their results in submission order, so
they give byte-identical output."""

import os

from stackpref.engines.local import Engine


def default_workers() -> int:
    """Every core the process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def open_engine(name: str, workers: int, ray_address: str | None = None):
    """The engine called `name`; both have the same `imap` and give the same results."""
    if name == "ray":
        from stackpref.engines.ray import RayEngine

        return RayEngine(workers, ray_address)
    return Engine(workers)
