"""Run a declared list of steps over one bucket and count every step's survivors and drops.

The contract (datatrove's filter contract): a step keeps rows, or drops them with a reason, and
says how many under each reason; the runner checks that the frame it names shrank by exactly that
much and that no other frame changed size, so no row is ever lost without a reason. A step that
makes rows (pairing, the SFT rows) is declared `makes=True`: what it adds counts as entered.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from stackpref.pipeline.funnel import Funnel
from stackpref.steps.bucket import STAGES, Bucket, Context


@dataclass(frozen=True)
class Step:
    stage: str  # the frame it filters or makes: questions, answers, pairs or sft
    fn: Callable[[Bucket, Context], tuple[Bucket, Counter]]
    makes: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__


def run_steps(bucket: Bucket, context: Context, steps: list[Step], funnel: Funnel) -> Bucket:
    """Apply `steps` in order; record each stage in `funnel`: entered = its frame's size before its
    first step plus what its steps made, kept = its size after its last step."""
    entered: dict[str, int] = {}
    dropped: dict[str, Counter] = {}
    for step in steps:
        before = {stage: bucket.height(stage) for stage in STAGES}
        bucket, drops = step.fn(bucket, context)
        after = {stage: bucket.height(stage) for stage in STAGES}
        made = after[step.stage] - before[step.stage] + sum(drops.values())
        if made and not step.makes:
            raise AssertionError(f"step {step.name}: {step.stage} went from {before[step.stage]} to "
                                 f"{after[step.stage]} rows, but it dropped {dict(drops)}")
        for stage in STAGES:
            if stage != step.stage and before[stage] != after[stage]:
                raise AssertionError(f"step {step.name} changed {stage} ({before[stage]} -> {after[stage]} rows); "
                                     f"a step changes only the frame it names ({step.stage})")
        entered[step.stage] = entered.get(step.stage, before[step.stage]) + made
        dropped.setdefault(step.stage, Counter()).update(drops)
    for stage, count in entered.items():
        funnel.record(stage, STAGES[stage], count, bucket.height(stage), **dropped[stage])
    return bucket
