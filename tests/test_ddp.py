"""Two-process DDP on a CPU (gloo), launched by torchrun as `accelerate launch` would on GPUs: the
training completes, each rank loads its own base and reads a different shard of the data, and one
process writes the results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stackpref.training.tiny import build_tiny_model

ACCELERATE = Path(__file__).resolve().parents[1] / "training" / "recipes" / "accelerate"

# Each rank records the questions of its first batches from the dataloader the Trainer trains on,
# then trains through the same functions as `stackpref train sft`.
DRIVER = """
import json, os, sys
from pathlib import Path
from stackpref.training.config import resolve
from stackpref.training.run import prepare_output, train_and_save
from stackpref.training.sft import sft_trainer

data, model, output, seen = sys.argv[1:]
config = resolve("sft", data=data, model=model, output=output, max_steps=4, per_device_train_batch_size=4,
                 logging_steps=1, gradient_checkpointing=False, max_eval_samples=8, learning_rate=2e-3)
out = prepare_output(config, resume=False)
trainer, facts = sft_trainer(config, out)
rank = trainer.accelerator.process_index
batches = [batch["input_ids"].tolist() for batch, _ in zip(trainer.get_train_dataloader(), range(4))]
Path(seen, f"rank{rank}.json").write_text(json.dumps({
    "world": trainer.accelerator.num_processes, "device": str(trainer.model.device),
    "backend": str(trainer.accelerator.state.backend), "rows": [row for batch in batches for row in batch]}))
train_and_save(trainer, config, out, False, facts)
"""


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_on_different_data(easy_build, tmp_path):
    import datasets

    rows = datasets.load_dataset(str(easy_build), "sft")["train"]
    model = build_tiny_model([p + c for p, c in zip(rows["prompt"], rows["completion"])], tmp_path / "tiny")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    seen = tmp_path / "seen"
    seen.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(driver),
         str(easy_build), str(model), str(tmp_path / "run"), str(seen)],
        check=False, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((seen / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and {r["backend"] for r in ranks} == {"gloo"}
    first, second = ({tuple(ids) for ids in r["rows"]} for r in ranks)
    assert first and second and not first & second  # each rank reads its own shard
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["global_step"] == 4
    losses = [m["loss"] for m in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
              if "loss" in m]
    assert len(losses) == 4  # logged once, by rank 0


@pytest.mark.parametrize(("name", "kind"), [("ddp", "MULTI_GPU"), ("deepspeed-zero3", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_shipped_accelerate_configs_load(name, kind):
    """accelerate reads each config as `accelerate launch --config_file` would (an unknown key fails)."""
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ACCELERATE / f"{name}.yaml"))
    assert config.distributed_type == kind and config.num_processes == 2 and config.mixed_precision == "bf16"
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3


@pytest.mark.parametrize(("env", "sharded"), [({}, False), ({"ACCELERATE_USE_FSDP": "true"}, True),
                                              ({"ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, True),
                                              ({"ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, False)])
def test_sharded_launch_stores_4bit_weights_in_the_compute_dtype(monkeypatch, env, sharded):
    """FSDP and ZeRO-3 flatten the 4-bit weights with the rest: they must be stored in the compute dtype."""
    import torch
    from stackpref.training.model import compute_dtype, quantization_config

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    expected = compute_dtype() if sharded else torch.uint8
    assert quantization_config().bnb_4bit_quant_storage == expected
