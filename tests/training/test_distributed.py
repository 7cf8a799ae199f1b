"""Training beyond one process: two CPU processes (gloo) under DDP or FSDP2 train the model one process
trains with the same global batch; only the main process writes; the shipped accelerate configs.

Tolerance: test probabilities within 1e-5 of one process (measured: 5e-8 under DDP, 3e-8 under
FSDP2): the processes sum the gradients in another order, nothing else differs. Dropout is
off, since two processes draw other dropout masks than one, and so is grouping by length,
since transformers groups lengths within each process's batches (1 x 4 and 2 x 2 group apart).
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from unittest import mock

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import REPO
from tests.methods._encoders import tiny_bert  # noqa: F401  (fixture)
from tests.training._runs import accelerate_environment, causalclf, metrics, probabilities, run, write_config

pytestmark = pytest.mark.processes

TOLERANCE = 1e-5
CONFIGS = REPO / "configs" / "accelerate"
HEAD = {"method": "embedding_head", "lora": {"r": 4, "lora_dropout": 0.0}, "head_dropout": 0.0}
TRAINING = {
    "epochs": 3,
    "learning_rate": 5e-3,
    "logging_steps": 1,
    "early_stopping_patience": None,
    "group_by_length": False,
    "progress_bar": False,
}
TWO_PROCESSES = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, toy_file, tiny_llama):
    """The embedding head trained by one process, batch 4."""
    folder = tmp_path_factory.mktemp("one")
    causalclf(
        "train",
        str(write_config(folder, toy_file, "one", model=tiny_llama, **HEAD, training={**TRAINING, "batch_size": 4})),
    )
    return folder / "one"


def _reloads_to_its_probabilities(run_dir, toy_file) -> None:
    """The saved model folder (adapter and head) predicts the test probabilities the run recorded."""
    from causalclf.data import load_dataset
    from causalclf.methods import load_classifier

    test = load_dataset({"path": str(toy_file), "text": "body", "label": "topic"})["test"]
    proba = load_classifier(run_dir / "model").predict_proba(test.texts)
    np.testing.assert_allclose(proba, probabilities(run_dir), rtol=0, atol=1e-6)


def test_two_ddp_processes_train_the_model_one_process_trains(tmp_path, toy_file, tiny_llama, one_process):
    cfg = write_config(tmp_path, toy_file, "two", model=tiny_llama, **HEAD, training={**TRAINING, "batch_size": 2})
    logs = tmp_path / "logs"
    run(*TWO_PROCESSES, "--log-dir", str(logs), "--redirects", "3", "-m", "causalclf", "train", str(cfg))
    two = tmp_path / "two"
    np.testing.assert_allclose(probabilities(two), probabilities(one_process), rtol=0, atol=TOLERANCE)
    assert metrics(two)["info"]["training"]["steps"] == metrics(one_process)["info"]["training"]["steps"] == 18
    assert metrics(two)["info"]["training"]["engine"]["distributed_type"] == "MULTI_CPU"
    assert metrics(one_process)["info"]["training"]["engine"]["distributed_type"] == "NO"
    assert metrics(two)["info"]["training"]["engine"]["processes"] == 2
    assert (
        metrics(two)["info"]["training"]["best_validation_score"]
        == metrics(one_process)["info"]["training"]["best_validation_score"]
    )

    # Only the main process wrote and reported; the run folder is complete and nothing else is in it.
    stdout = {path.parent.name: path.read_text() for path in logs.rglob("stdout.log")}
    assert sorted(stdout) == ["0", "1"]
    assert stdout["0"].count("model saved to") == 1 and "model saved to" not in stdout["1"]
    assert sorted(p.name for p in two.iterdir()) == ["label_space.json", "metrics.json", "model", "predictions.jsonl"]
    _reloads_to_its_probabilities(two, toy_file)


def test_two_fsdp2_processes_on_cpu_match_one_process_and_resume_after_sigterm(
    tmp_path, toy_file, tiny_llama, one_process
):
    # The environment of configs/accelerate/fsdp.yaml, in fp32: bf16 autocast is for GPUs.
    env = {**accelerate_environment(CONFIGS / "fsdp.yaml"), "ACCELERATE_MIXED_PRECISION": "no"}
    cfg = write_config(
        tmp_path,
        toy_file,
        "fsdp",
        model=tiny_llama,
        **HEAD,
        training={**TRAINING, "batch_size": 2, "checkpoint_steps": 4},
    )
    harness = (*TWO_PROCESSES, "-m", "tests.training.harness", "--fsdp-on-cpu")
    stopped = run(*harness, "--signal-at", "9", "TERM", "--", "train", str(cfg), env=env, check=False)
    assert stopped.returncode != 0  # SIGTERM ended both processes, once the checkpoint was saved
    checkpoint = tmp_path / "fsdp" / "checkpoints" / "seed-42" / "checkpoint-9"
    assert (checkpoint / "causalclf-state.json").is_file() and (checkpoint / "trainable.safetensors").is_file()
    assert (checkpoint / "pytorch_model_fsdp_0").is_dir()  # FSDP's own shards: it did run under FSDP

    resumed = run(*harness, "--", "train", str(cfg), "--resume", env=env)
    assert f"resuming from {checkpoint}" in resumed.stderr
    fsdp = tmp_path / "fsdp"
    np.testing.assert_allclose(probabilities(fsdp), probabilities(one_process), rtol=0, atol=TOLERANCE)
    _reloads_to_its_probabilities(fsdp, toy_file)  # gathered before saving: the adapter and the head


def test_every_method_trains_under_accelerate_launch_with_the_ddp_config(tmp_path, toy_file, tiny_llama, tiny_bert):  # noqa: F811
    fast = {**TRAINING, "epochs": 2, "batch_size": 4}
    student = {"model": tiny_bert, "max_length": 32, "training": {**fast, "learning_rate": 3e-3}}
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(
        yaml.safe_dump(
            {
                "data": {"path": str(toy_file), "text": "body", "label": "topic"},
                "seeds": [7],
                "output_dir": str(tmp_path / "out"),
                "methods": {
                    "head": {**HEAD, "model": tiny_llama, "training": fast},
                    "instruction": {
                        "method": "instruction",
                        "model": tiny_llama,
                        "lora": {"r": 2},
                        "max_length": 16,
                        "training": fast,
                    },
                    "encoder": {"method": "encoder", **student, "distill": {"student": student}},
                },
            }
        )
    )
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    done = run(
        launcher, "launch", "--config_file", str(CONFIGS / "ddp.yaml"), "-m", "causalclf", "compare", str(experiment)
    )
    assert done.stdout.count("wrote ") == 1  # the table, the plots, the report: by the main process
    for method in ("head", "instruction", "encoder", "encoder/seed-7/student"):
        folder = tmp_path / "out" / "runs" / (method if "/" in method else f"{method}/seed-7")
        assert metrics(folder)["n"] == 3
        _reloads_to_its_probabilities(folder, toy_file)


@pytest.mark.parametrize("name", ["ddp", "fsdp", "zero2", "zero3"])
def test_the_shipped_accelerate_configs_resolve_to_their_engines(name, tiny_llama):
    """Each config as `accelerate launch` reads it, down to the plugin the Trainer's Accelerator builds."""
    from accelerate.utils import DeepSpeedPlugin, FullyShardedDataParallelPlugin

    env = accelerate_environment(CONFIGS / f"{name}.yaml")
    with mock.patch.dict(os.environ, env):
        if name == "ddp":
            assert "ACCELERATE_USE_FSDP" not in env and "ACCELERATE_USE_DEEPSPEED" not in env
            assert env["ACCELERATE_MIXED_PRECISION"] == "no"
        elif name == "fsdp":
            plugin = FullyShardedDataParallelPlugin()
            assert plugin.fsdp_version == 2 and plugin.reshard_after_forward
            assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
            assert not plugin.cpu_ram_efficient_loading and "SHARDED" in str(plugin.state_dict_type)
            # The class it names is the decoder block of the Llama-style backbones (smollm2-135m).
            from transformers import AutoModel
            from transformers.models.llama.modeling_llama import LlamaDecoderLayer

            model = AutoModel.from_pretrained(tiny_llama)
            assert any(isinstance(m, LlamaDecoderLayer) for m in model.modules())
        else:
            plugin = DeepSpeedPlugin()
            config = plugin.deepspeed_config
            assert plugin.zero_stage == int(name[-1]) and config["zero_optimization"]["stage"] == int(name[-1])
            # What the run config decides is left to the Trainer to fill in.
            for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
                assert config[key] == "auto"
            if name == "zero3":
                assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
                assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "false"


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="FSDP and DeepSpeed run on GPUs only (accelerate enables them on accelerators; FSDP2 on "
    "CPU is covered by the harness test above)",
)
@pytest.mark.parametrize("name", ["fsdp", "zero2", "zero3"])
def test_the_sharded_configs_train_on_gpus(name, tmp_path, toy_file, tiny_llama, one_process):
    if name.startswith("zero") and find_spec("deepspeed") is None:
        pytest.skip("deepspeed is not installed (pip install deepspeed: it builds against CUDA)")
    processes = min(2, torch.cuda.device_count())  # one GPU still runs the sharding engine, over 1 rank
    cfg = write_config(
        tmp_path,
        toy_file,
        name,
        model=tiny_llama,
        **HEAD,
        dtype="float32",
        training={**TRAINING, "batch_size": 4 // processes},
    )
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    run(
        launcher,
        "launch",
        "--config_file",
        str(CONFIGS / f"{name}.yaml"),
        "--num_processes",
        str(processes),
        "-m",
        "causalclf",
        "train",
        str(cfg),
    )
    engine = metrics(tmp_path / name)["info"]["training"]["engine"]
    assert engine == {
        "distributed_type": "FSDP" if name == "fsdp" else "DEEPSPEED",
        "processes": processes,
        "mixed_precision": "bf16",
        "device": "cuda",
    }
    # bf16 compute (the configs' mixed_precision) against fp32 on one CPU process: close, not equal.
    np.testing.assert_allclose(probabilities(tmp_path / name), probabilities(one_process), rtol=0, atol=5e-2)
    _reloads_to_its_probabilities(tmp_path / name, toy_file)
