"""Counts of what entered and left each stage, with a reason for every drop.

The manifest and the dataset card are rendered from these counts; `record` refuses numbers that
do not add up, so a row can never be lost without a reason.
"""

from dataclasses import dataclass, field


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
        """Record a stage; raises if entered != kept + the drops (a row lost without a reason)."""
        dropped = {reason: int(n) for reason, n in dropped.items() if n}
        if entered != kept + sum(dropped.values()):
            raise AssertionError(
                f"funnel stage {name!r} does not add up: {entered} entered, {kept} kept, dropped {dropped}"
            )
        self.stages[name] = Stage(unit, int(entered), int(kept), dropped)

    def to_dict(self) -> dict:
        return {
            name: {"unit": s.unit, "entered": s.entered, "kept": s.kept, "dropped": dict(sorted(s.dropped.items()))}
            for name, s in self.stages.items()
        }
