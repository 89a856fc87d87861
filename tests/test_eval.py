"""`stackpref eval` on tiny checkpoints trained in the test: a DPO run on easy pairs (through
`stackpref.training.train`, the real 4-bit QLoRA path), a random-init reward model, and an LLM judge
served from 127.0.0.1 by the test itself."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
import torch
from click.testing import CliRunner
from easy_site import FIXED_ANSWER
from PIL import Image
from stackpref.eval import accuracy, metrics, models, winrate
from stackpref.eval.config import EvalConfig
from stackpref.eval.data import load_pairs
from stackpref.training import train
from trl_reference import assert_equal_to_trl, eval_and_trl, with_swapped

from stackpref.cli import cli
from stackpref.progress import Progress

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args):
    result = CliRunner().invoke(cli, ["eval", *map(str, args), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def report(out) -> dict:
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def dpo_run(easy_build, tmp_path_factory):
    """SFT then DPO with the tiny-cpu recipe, cut to a few steps (enough on these pairs)."""
    root = tmp_path_factory.mktemp("runs")
    sft = train("sft", recipe="tiny-cpu", data=str(easy_build), output=str(root / "sft"), max_steps=10,
                logging_steps=100)
    return train("dpo", recipe="tiny-cpu", data=str(easy_build), sft=str(sft), output=str(root / "dpo"),
                 max_steps=8, logging_steps=100)


class Judge(BaseHTTPRequestHandler):
    """A deterministic OpenAI-compatible judge. Model "first" always answers A (pure position bias);
    model "content" prefers the answer holding the easy site's sentence, the shorter when both do,
    and says tie when neither does or both are as long."""

    asked: ClassVar[list[tuple[str, str, str]]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        a = text.split("[Answer A]\n", 1)[1].split("\n\n[Answer B]\n", 1)[0]
        b = text.split("\n\n[Answer B]\n", 1)[1].rsplit("\n\nWhich answer is better?", 1)[0]
        Judge.asked.append((body["model"], a, b))
        verdict = "A" if body["model"] == "first" else self.by_content(a, b)
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"{verdict}."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def by_content(a: str, b: str) -> str:
        key = "Grind the beans"
        if (key in a) != (key in b):
            return "A" if key in a else "B"
        if key not in a or len(a) == len(b):
            return "tie"
        return "A" if len(a) < len(b) else "B"

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def judge_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def full_run(dpo_run, easy_build, judge_url, tmp_path_factory):
    """One `stackpref eval` with every part: accuracy, generation, the position-biased LLM judge."""
    root = tmp_path_factory.mktemp("eval")
    Judge.asked.clear()
    result = run_cli(dpo_run, "--data", easy_build, "--output", root / "run", "--cache-dir", root / "cache",
                     "--judge", "llm", "--judge-url", judge_url, "--judge-model", "first", "--num-prompts", 5,
                     "--max-new-tokens", 12)
    (root / "stdout.txt").write_text(result.output)
    return root


def test_dpo_checkpoint_is_right_on_easy_pairs_and_wrong_on_swapped(full_run, easy_build, dpo_run):
    result = report(full_run / "run")
    assert result["primary_scorer"] == "implicit_reward"
    assert result["reference"]["cache"] == "miss"
    assert result["checkpoint"]["stage"] == "dpo" and result["checkpoint"]["load_in_4bit"] is True
    assert str(dpo_run.parent / "sft") in result["reference"]["description"]  # the SFT model, not the base
    overall = result["reward_accuracy"]["implicit_reward"]["overall"]
    assert overall["n"] == result["data"]["pairs"] >= 25
    assert overall["accuracy"] >= 0.95 and overall["mean_margin"] > 0
    assert overall["accuracy_ci"][0] <= overall["accuracy"] <= overall["accuracy_ci"][1]
    assert set(result["reward_accuracy"]) == {"implicit_reward", "logprob_sum", "logprob_mean"}
    assert result["reward_accuracy"]["implicit_reward"]["by_site"].keys() == {"easy.stackexchange.com"}

    swapped = load_pairs(str(easy_build)).rename({"chosen": "rejected", "rejected": "chosen"})
    swapped.write_parquet(full_run / "swapped.parquet")
    run_cli(dpo_run, "--data", full_run / "swapped.parquet", "--output", full_run / "swapped",
            "--cache-dir", full_run / "cache")
    flipped = report(full_run / "swapped")["reward_accuracy"]["implicit_reward"]["overall"]
    assert flipped["accuracy"] <= 0.05 and flipped["mean_margin"] == pytest.approx(-overall["mean_margin"], abs=1e-4)

    compared = CliRunner().invoke(cli, ["eval", "--compare", str(full_run / "run"), str(full_run / "swapped")])
    assert compared.exit_code == 0, compared.output
    assert compared.output.startswith("# `run` (A) vs `swapped` (B)")
    assert f"| implicit_reward | {overall['accuracy']:.1%} [" in compared.output
    assert "the pairs differ (data hashes)" in compared.output  # the two data hashes differ
    assert "not paired: different pairs" in compared.output


def test_second_eval_against_the_same_reference_reads_the_cache(full_run, easy_build, dpo_run):
    run_cli(dpo_run, "--data", easy_build, "--output", full_run / "again", "--cache-dir", full_run / "cache")
    first, second = report(full_run / "run"), report(full_run / "again")
    assert second["reference"]["cache"] == "hit"
    assert second["reward_accuracy"]["implicit_reward"] == first["reward_accuracy"]["implicit_reward"]
    assert second["data"]["hash"] == first["data"]["hash"]


def test_ref_base_and_over_length_pairs_dropped_with_a_count(full_run, easy_build, dpo_run):
    from stackpref.eval.scoring import tokenize
    from stackpref.training.model import load_tokenizer

    frame = load_pairs(str(easy_build))
    tokenizer = load_tokenizer(str(dpo_run))
    lengths = tokenize(tokenizer, frame["prompt"].to_list(), frame["chosen"].to_list(),
                       frame["rejected"].to_list()).total_lengths()
    budget = int(np.median(lengths))
    run_cli(dpo_run, "--data", easy_build, "--output", full_run / "base-ref", "--ref", "base", "--max-length",
            budget, "--no-ref-cache")
    result = report(full_run / "base-ref")
    assert result["reference"]["description"].endswith("adapters off") and result["reference"]["cache"] == "off"
    assert result["data"]["dropped_over_max_length"] == int((lengths > budget).sum()) > 0
    assert result["data"]["scored"] + result["data"]["dropped_over_max_length"] == result["data"]["pairs"]
    assert result["reward_accuracy"]["implicit_reward"]["overall"]["n"] == result["data"]["scored"]


def test_implicit_reward_equals_trl_dpo_trainer_evaluate(dpo_run, easy_build, tmp_path):
    """The same checkpoint and pairs through DPOTrainer.evaluate() (reference: a frozen copy of the SFT
    adapter, as in training) and through eval, full precision fp32: equal within 1e-4."""
    ours, theirs, _, _ = eval_and_trl(dpo_run, easy_build, with_swapped(load_pairs(str(easy_build))), tmp_path)
    assert_equal_to_trl(ours, theirs)


def test_reward_model_scores_equal_a_direct_forward_pass(easy_build, tmp_path):
    from stackpref.training.tiny import build_tiny_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    frame = load_pairs(str(easy_build))
    texts = [p + c for p, c in zip(frame["prompt"], frame["chosen"])]
    tiny = build_tiny_model(texts, tmp_path / "tiny", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    config = LlamaConfig.from_pretrained(tiny, num_labels=1)
    torch.manual_seed(1)
    LlamaForSequenceClassification(config).save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")

    run_cli(tmp_path / "rm", "--data", easy_build, "--output", tmp_path / "out", "--batch-tokens", 1024)
    result = report(tmp_path / "out")
    assert result["primary_scorer"] == "reward_model" and result["reference"] is None
    assert set(result["reward_accuracy"]) == {"reward_model"}

    loaded = models.load(str(tmp_path / "rm"))
    eval_config = EvalConfig(checkpoint=str(tmp_path / "rm"), batch_tokens=1024)
    with Progress(False) as bar:
        scores = accuracy.score_pairs(loaded, frame, eval_config, bar).scores["reward_model"]
    model = LlamaForSequenceClassification.from_pretrained(tmp_path / "rm").eval()
    for i in (0, 7, len(frame) - 1):
        for column, side in enumerate(("chosen", "rejected")):
            ids = tokenizer(frame["prompt"][i] + frame[side][i] + tokenizer.eos_token, return_tensors="pt")
            with torch.inference_mode():
                direct = model(**ids).logits[0, 0].item()
            assert scores[i, column] == pytest.approx(direct, abs=1e-5)
    expected = np.mean(np.where(scores[:, 0] > scores[:, 1], 1.0, np.where(scores[:, 0] < scores[:, 1], 0, 0.5)))
    assert result["reward_accuracy"]["reward_model"]["overall"]["accuracy"] == pytest.approx(expected)


def test_llm_judge_asks_both_orders_and_position_bias_becomes_ties(full_run):
    rows = [json.loads(line) for line in (full_run / "run" / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(row["baseline"].strip() == FIXED_ANSWER for row in rows)
    asked = {(a, b) for model, a, b in Judge.asked if model == "first"}
    assert len([1 for model, *_ in Judge.asked if model == "first"]) == 10  # 5 comparisons x 2 orders
    for row in rows:
        assert (row["model"], row["baseline"]) in asked and (row["baseline"], row["model"]) in asked
        assert (row["model_first"], row["model_second"]) == (1.0, 0.0)  # "A" both times: it disagrees with itself
    win = report(full_run / "run")["win_rate"]
    assert win["ties"] == 1.0 and win["win_rate"] == 0.5 and win["position_agreement"] == 0.0
    assert win["n"] == 5 and win["judge"].startswith("LLM first")


def test_llm_judge_verdicts_give_wins_ties_and_losses(full_run, easy_build, dpo_run, judge_url):
    """A position-blind judge on made-up answers: shorter right answer wins, the same answer ties, a
    wrong one loses, a longer right one loses; each order agrees with the other."""
    frame = load_pairs(str(easy_build))
    answers = [" Grind the beans.", " " + FIXED_ANSWER, " no idea", " " + FIXED_ANSWER + " Also descale the kettle."]
    config = EvalConfig(checkpoint=str(dpo_run), judge="llm", judge_url=judge_url, judge_model="content",
                        num_prompts=4, bootstrap=200)
    loaded = models.Loaded(models.describe(str(dpo_run)), None, None, None, False)
    with Progress(False) as bar:
        win, rows = winrate.win_rate(loaded, frame, config, 0.1, bar, generations=answers)
    assert [(r["model_first"], r["model_second"]) for r in rows] == [(1, 1), (0.5, 0.5), (0, 0), (0, 0)]
    assert (win["wins"], win["ties"], win["losses"], win["win_rate"]) == (0.25, 0.25, 0.5, 0.375)
    assert win["position_agreement"] == 1.0 and win["unparsed_verdicts"] == 0


def test_report_files_and_plots(full_run):
    out = full_run / "run"
    buckets = report(out)["reward_accuracy"]["implicit_reward"].get("by_margin_bucket", {})
    assert (out / "accuracy_by_margin.png").is_file() == (len(buckets) > 1)  # one bar is not a plot
    for name in ("margin_histogram.png", "win_tie_loss.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] >= 400
    markdown = (out / "report.md").read_text()
    assert "## Reward accuracy" in markdown and "## Win rate" in markdown and "![margin histogram]" in markdown
    result = report(out)
    assert {"torch", "transformers", "peft", "evaluate"} <= result["versions"].keys()
    assert result["config"]["judge"] == "llm" and len(result["data"]["hash"]) == 32


def test_metric_modules_are_the_ones_eval_uses(full_run):
    """The report's numbers come out of the shipped modules: loading them with evaluate.load and
    feeding them the run's recorded verdicts gives the same win rate."""
    import evaluate

    rows = pl.read_ndjson(full_run / "run" / "generations.jsonl")
    win_rate = evaluate.load(str(metrics.path("win_rate"))).compute(
        first=rows["model_first"].to_list(), second=rows["model_second"].to_list(),
        model_lengths=rows["model"].str.len_chars().to_list(), baseline_lengths=rows["baseline"].str.len_chars().to_list())
    recorded = report(full_run / "run")["win_rate"]
    assert {k: recorded[k] for k in win_rate} == win_rate

    reward_accuracy = evaluate.load(str(metrics.path("reward_accuracy")))
    values = reward_accuracy.compute(chosen_scores=[2.0, 1.0, 0.5, 3.0], rejected_scores=[1.0, 1.0, 0.7, 0.0])
    assert values["accuracy"] == 0.625 and values["ties"] == 1 and values["n"] == 4


def test_run_ends_with_the_table(full_run):
    """The headline numbers on the terminal, the same as report.json's."""
    printed = (full_run / "stdout.txt").read_text().splitlines()
    result = report(full_run / "run")
    overall = result["reward_accuracy"]["implicit_reward"]["overall"]
    row = next(line for line in printed if line.startswith("reward accuracy (implicit_reward)"))
    low, high = overall["accuracy_ci"]
    assert row.split()[-4:] == [f"{overall['accuracy']:.1%}", f"[{low:.1%},", f"{high:.1%}]", str(overall["n"])]
    win = result["win_rate"]
    row = next(line for line in printed if line.startswith("win rate"))
    assert row.split()[-1] == "5" and f"{win['win_rate']:.1%}" in row
    assert printed[-1].startswith("wrote ")


def test_max_length_comes_from_train_config_and_drops_what_training_drops(dpo_run, easy_build, tmp_path):
    """A copy of the DPO run whose train_config.yaml says a shorter max_length: eval, given no
    --max-length, drops exactly the test pairs training's own filter drops, and says so."""
    import shutil

    import yaml
    from datasets import Dataset
    from stackpref.training.data import drop_over_length
    from stackpref.training.model import load_tokenizer

    run = tmp_path / "dpo"
    shutil.copytree(dpo_run, run)
    saved = yaml.safe_load((run / "train_config.yaml").read_text())
    frame = load_pairs(str(easy_build))
    tokenizer = load_tokenizer(str(run))
    pairs = Dataset.from_polars(frame.select("prompt", "chosen", "rejected"))
    lengths = sorted(len(tokenizer(p + max(c, r, key=len) + tokenizer.eos_token)["input_ids"])
                     for p, c, r in zip(frame["prompt"], frame["chosen"], frame["rejected"]))
    saved["max_length"] = lengths[len(lengths) // 2]
    (run / "train_config.yaml").write_text(yaml.safe_dump(saved))
    kept, dropped = drop_over_length(pairs, tokenizer, saved["max_length"], "pairs/test")
    assert 0 < dropped < len(pairs)

    run_cli(run, "--data", easy_build, "--output", tmp_path / "out", "--no-ref-cache")
    data = report(tmp_path / "out")["data"]
    assert data["max_length"] == saved["max_length"] and data["from_train_config"] == ["max_length"]
    assert (data["dropped_over_max_length"], data["scored"]) == (dropped, len(kept))
    assert f"{dropped} dropped as longer than max_length" in (tmp_path / "out" / "report.md").read_text()


def test_self_judge_only_when_allowed_and_marked(dpo_run, easy_build, tmp_path):
    result = CliRunner().invoke(cli, ["eval", str(dpo_run), "--data", str(easy_build), "--judge", "implicit", "-q"])
    assert result.exit_code == 2 and "--allow-self-judge" in result.output
    result = run_cli(dpo_run, "--data", easy_build, "--output", tmp_path / "out", "--judge", "implicit",
                     "--allow-self-judge", "--num-prompts", 1000, "--max-new-tokens", 4, "--bootstrap", 100,
                     "--no-ref-cache")
    win = report(tmp_path / "out")["win_rate"]
    distinct = load_pairs(str(easy_build))["prompt"].n_unique()
    assert win["self_judged"] is True and win["n"] == distinct < 1000
    reason = f"the data has only {distinct} distinct prompts"
    assert win["prompts"] == {"asked": 1000, "used": distinct, "reason": reason}
    assert "win rate [self-judged]" in result.output
    assert "**Self-judged:**" in (tmp_path / "out" / "report.md").read_text()


def test_quiet_silences_the_libraries(capfd):
    """Inside quiet_libraries transformers' warnings are not logged, its progress bars and Python warnings
    are gone; after it they are back. (The log check asks the logger: its handler may hold a stream an
    earlier CliRunner swapped in, which no capture sees.)"""
    import contextlib
    import logging
    import warnings

    import transformers
    from stackpref.eval.run import quiet_libraries

    logger = transformers.logging.get_logger("transformers.modeling_utils")
    for quiet, expected in ((True, set()), (False, {"LOUD-BAR", "LOUD-WARNING"})):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with quiet_libraries() if quiet else contextlib.nullcontext():
                logs = logger.isEnabledFor(logging.WARNING)
                library_logs = logging.getLogger("bitsandbytes.backends").isEnabledFor(logging.WARNING)
                for _ in transformers.utils.logging.tqdm(range(3), desc="LOUD-BAR"):
                    pass
                warnings.warn("LOUD-WARNING", UserWarning, stacklevel=1)
        err = capfd.readouterr().err + "".join(str(w.message) for w in caught)
        assert {word for word in ("LOUD-BAR", "LOUD-WARNING") if word in err} == expected
        assert logs is not quiet and library_logs is not quiet
