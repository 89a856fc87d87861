"""Counts of what entered and left each stage, with a reason for every drop.

The manifest and the dataset card are rendered from these counts; `record` refuses numbers that
do not add up, so a row can never be lost without a reason.
"""

from dataclasses import dataclass, field

ORDER = ("read", "dump_versions", "questions", "answers", "pairs", "sft")


@dataclass
class Stage:
    unit: str
    entered: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)


class Funnel:
    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}

    def record(self, name: str, unit: str, entered: int, kept: int, **dropped: int) -> None:
        """Add counts to a stage; raises if entered != kept + the drops (a row lost without a reason)."""
        dropped = {reason: int(n) for reason, n in dropped.items() if n}
        if entered != kept + sum(dropped.values()):
            raise AssertionError(
                f"funnel stage {name!r} does not add up: {entered} entered, {kept} kept, dropped {dropped}"
            )
        stage = self.stages.setdefault(name, Stage(unit, 0, 0))
        stage.entered += int(entered)
        stage.kept += int(kept)
        for reason, n in dropped.items():
            stage.dropped[reason] = stage.dropped.get(reason, 0) + n

    def merge(self, stages: dict) -> None:
        """Add another funnel's `to_dict()` (a bucket's) to this one."""
        for name, s in stages.items():
            self.record(name, s["unit"], s["entered"], s["kept"], **s["dropped"])

    def to_dict(self) -> dict:
        """Stages in data-flow order, whatever order the counts arrived in."""
        names = sorted(self.stages, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
        return {
            name: {"unit": s.unit, "entered": s.entered, "kept": s.kept, "dropped": dict(sorted(s.dropped.items()))}
            for name, s in ((n, self.stages[n]) for n in names)
        }
