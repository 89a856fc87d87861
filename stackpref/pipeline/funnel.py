"""Counts of what entered and left each stage, with a reason for every drop.

The manifest and the dataset card are rendered from these counts; `record` refuses numbers that
do not add up, so a row can never be lost without a reason.
"""

from dataclasses import dataclass, field

ORDER = ("read", "dump_versions", "questions", "answers", "pairs", "sft")


def _in_order(item: tuple[str, "Stage"]) -> int:
    return ORDER.index(item[0]) if item[0] in ORDER else len(ORDER)


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

    def why_empty(self) -> str | None:
        """None when an output row was kept; else the drops, earliest stage first (a later stage's drops
        mostly follow from them), for the one line that says why a build has nothing to write."""
        if any(self.stages[name].kept for name in ("pairs", "sft") if name in self.stages):
            return None
        drops = [f"{n:,} {stage.unit} {reason}" for _, stage in sorted(self.stages.items(), key=_in_order)
                 for reason, n in sorted(stage.dropped.items(), key=lambda item: -item[1])]
        return ", ".join(drops[:3]) or "the inputs hold no question with answers"

    def to_dict(self) -> dict:
        """Stages in data-flow order, whatever order the counts arrived in."""
        names = [name for name, _ in sorted(self.stages.items(), key=_in_order)]
        return {
            name: {"unit": s.unit, "entered": s.entered, "kept": s.kept, "dropped": dict(sorted(s.dropped.items()))}
            for name, s in ((n, self.stages[n]) for n in names)
        }
