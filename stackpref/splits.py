"""The two meanings of "split", defined once (no imports: the CLI's `--help` reads them).

A question cluster goes to one *question split*: `sft` (SFT training), `train` (pairs training) or
`test` (held out from both). The output has two configs, each with two *file splits* named as the
Hub names them; FILE_SPLITS[config][file split] is the question split whose rows that file holds.
"""

QUESTION_SPLITS = ("sft", "train", "test")
CONFIGS = ("pairs", "sft")
FILE_SPLITS = {"pairs": {"train": "train", "test": "test"}, "sft": {"train": "sft", "test": "test"}}
# The question splits each config's rows come from: pairs from train and test, SFT rows from sft and test.
PAIR_SPLITS = tuple(FILE_SPLITS["pairs"].values())
SFT_SPLITS = tuple(FILE_SPLITS["sft"].values())
