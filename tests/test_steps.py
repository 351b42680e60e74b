"""Steps called directly through `step.entrypoint(...)`, outside any pipeline (no MLflow run is active)."""

import re
from pathlib import Path

import pytest

from radreport.errors import RadreportError
from radreport.config import DataConfig, EvalConfig, FormatConfig, StructuringConfig, TrainConfig
from radreport.structuring.schemes import schemes_digest
from steps.evaluate_checkpoints import evaluate_checkpoints
from steps.format_alpaca import format_alpaca
from steps.ingest_reports import ingest_reports
from steps.structure_findings import structure_findings
from steps.train_lora import train_lora


@pytest.fixture(scope="module")
def records(sample_path):
    ingested, data_fingerprint = ingest_reports.entrypoint(DataConfig(path=str(sample_path)), "fp")
    assert len(ingested.reports) == 120 and ingested.quarantine.empty and len(data_fingerprint) == 16
    structured, _summary = structure_findings.entrypoint(ingested, StructuringConfig(), schemes_digest())
    return format_alpaca.entrypoint(structured, FormatConfig())


def test_train_and_evaluate_steps(records, tiny_model):
    config = TrainConfig(model=str(tiny_model), max_steps=3, save_steps=2, logging_steps=1)
    checkpoints = train_lora.entrypoint(records, config, "findings_to_impression")
    assert checkpoints.steps == [2, 3]  # every save_steps, and always the last step
    assert checkpoints.manifest["base_model"] == str(tiny_model)
    assert [e["step"] for e in checkpoints.log_history if "loss" in e] == [1, 2, 3]
    evaluation, report = evaluate_checkpoints.entrypoint(checkpoints, records, EvalConfig(max_examples=4,
                                                                                           max_new_tokens=4))
    scores, regions, examples = evaluation.scores, evaluation.regions, evaluation.examples
    assert list(scores.index) == ["constant", "nearest_neighbour", "copy_input", "positive_sentences", "base",
                                  "step-2", "step-3"] and evaluation.checkpoints == [2, 3]
    best = evaluation.best_step
    assert best in (2, 3) and scores.loc[f"step-{best}", "rougeL"] == scores.loc[["step-2", "step-3"], "rougeL"].max()
    assert evaluation.best == scores.loc[f"step-{best}"].to_dict()
    assert set(evaluation.baselines) == {"constant", "nearest_neighbour", "copy_input", "positive_sentences", "base"}
    by_system = scores
    assert (by_system["distinct_outputs"] >= 1).all() and by_system.loc["constant", "top_output_share"] == 1.0
    assert list(examples["copy_input"]) == list(examples["input"])
    assert {"bleu4", "rougeL", "meteor", "bertscore_f1"} <= set(scores.columns)
    assert {"reference", "base", "step-2", "step-3", "step-3.bertscore_f1"} <= set(examples.columns)
    assert len(examples) == 4 and set(regions["system"]) <= set(scores.index)
    assert "GREEN: skipped" in report and "data:image/png" in report


def test_unknown_model_fails_before_loading(records):
    with pytest.raises(RadreportError, match="not a local folder"):
        train_lora.entrypoint(records, TrainConfig(model="/nonexistent/model"), "findings_to_impression")


def test_nan_loss_stops_training_with_a_clear_error(records, tiny_model, tmp_path):
    from radreport.training.lora import train_lora as train

    config = TrainConfig(model=str(tiny_model), max_steps=4, save_steps=1, logging_steps=1, learning_rate=1e30,
                         warmup_steps=0)
    with pytest.raises(FloatingPointError, match=r"training (loss|grad_norm) became (nan|inf) at step \d; last good"):
        train(records, config, "findings_to_impression", tmp_path)


def test_gpu_backends_refuse_on_this_cpu_before_loading(records):
    with pytest.raises(RadreportError, match="train.backend=hf-qlora cannot run here: missing an NVIDIA GPU"):
        train_lora.entrypoint(records, TrainConfig(model="/nonexistent", backend="hf-qlora"), "findings_to_impression")


def test_training_resumes_after_a_kill_and_skips_a_half_written_checkpoint(records, tiny_model, tmp_path):
    from transformers import TrainerCallback

    from radreport.training.lora import train_lora as train

    class Killed(Exception):
        pass

    class KillAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                (Path(args.output_dir) / "checkpoint-3").mkdir()  # a save that died half-way
                (Path(args.output_dir) / "checkpoint-3" / "adapter_config.json").write_text("{")
                raise Killed

    config = TrainConfig(model=str(tiny_model), max_steps=4, save_steps=2, logging_steps=1, seed=3)
    with pytest.raises(Killed):
        train(records, config, "findings_to_impression", tmp_path / "first", callbacks=[KillAtStep3()])
    checkpoints = train(records, config, "findings_to_impression", tmp_path / "second")
    assert checkpoints.manifest["summary"]["global_step"] == 4 and checkpoints.steps == [2, 4]
    assert [e["step"] for e in checkpoints.log_history if "loss" in e] == [1, 2, 3, 4]  # the curve continues


def test_resume_reads_each_checkpoint_back_and_falls_back_past_a_corrupt_one(records, tiny_model, tmp_path, caplog):
    import os
    import shutil

    from transformers import TrainerCallback

    from radreport.paths import home
    from radreport.training.lora import train_lora as train
    from radreport.training.runs import checkpoint_fault

    class Killed(Exception):
        pass

    class KillAtStep5(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise Killed

    config = TrainConfig(model=str(tiny_model), max_steps=6, save_steps=2, logging_steps=1, seed=4)
    with pytest.raises(Killed):
        train(records, config, "findings_to_impression", tmp_path / "first", callbacks=[KillAtStep5()])
    newest = max(home().glob("runs/train-*/checkpoint-4"), key=lambda p: p.stat().st_mtime)
    assert checkpoint_fault(newest) is None
    for damage, expected in [("adapter_model.safetensors", "Error"), ("optimizer.pt", "Error"),  # which: the bytes say
                             ("rng_state.pth", "Error"), ("scheduler.pt", "FileNotFoundError")]:
        copy = tmp_path / f"damaged-{damage}"
        shutil.copytree(newest, copy)
        if damage == "scheduler.pt":
            (copy / damage).unlink()
        else:
            (copy / damage).write_bytes(os.urandom((copy / damage).stat().st_size))
        assert re.search(expected, checkpoint_fault(copy)), damage
    (newest / "optimizer.pt").write_bytes(os.urandom((newest / "optimizer.pt").stat().st_size))
    checkpoints = train(records, config, "findings_to_impression", tmp_path / "second")
    assert "skipping checkpoint" in caplog.text and "checkpoint-4" in caplog.text
    assert checkpoints.manifest["summary"]["resumed_from_step"] == 2
    assert checkpoints.manifest["summary"]["global_step"] == 6


def test_retention_keeps_the_last_and_the_best_by_eval_loss(records, tiny_model, tmp_path):
    from radreport.training.lora import train_lora as train

    config = TrainConfig(model=str(tiny_model), max_steps=6, save_steps=1, logging_steps=1, keep_last_checkpoints=1,
                         learning_rate=0.05)  # large enough that the eval loss does not fall all the way
    checkpoints = train(records, config, "findings_to_impression", tmp_path)
    history = checkpoints.log_history
    eval_losses = {e["step"]: e["eval_loss"] for e in history if "eval_loss" in e}
    assert sorted(eval_losses) == [1, 2, 3, 4, 5, 6]  # at every checkpoint
    best = min(eval_losses, key=eval_losses.get)
    assert checkpoints.manifest["summary"]["best_eval_loss_step"] == best
    assert best < 6 and checkpoints.steps == [best, 6]  # the best survives rotation beside the last


def test_a_loaded_checkpoint_set_takes_its_local_copy_with_it(tmp_path):
    """The materializer copies the artifact out of the store; the copy was once left behind on every load."""
    import gc

    from materializers.checkpoints import CheckpointSetMaterializer
    from radreport.training.checkpoints import CheckpointSet

    stored = tmp_path / "store"
    (stored / "step-2").mkdir(parents=True)
    (stored / "step-2" / "adapter_config.json").write_text("{}")
    (stored / "manifest.json").write_text("{}")
    loaded = CheckpointSetMaterializer(uri=str(stored)).load(CheckpointSet)
    copy = Path(loaded.path)
    assert copy != stored and (copy / "step-2").is_dir() and loaded.steps == [2]
    del loaded
    gc.collect()
    assert not copy.exists()


@pytest.mark.parametrize("takes_images", [False, True], ids=["text", "images"])
def test_a_select_metric_that_does_not_apply_is_refused_by_either_evaluation(takes_images, tmp_path):
    """The same applicability check, text or images, before any model loads (the manifest alone says which)."""
    import json

    import pandas as pd

    from radreport.modality import evaluate
    from radreport.training.checkpoints import CheckpointSet

    (tmp_path / "manifest.json").write_text(json.dumps({"task": "findings_to_impression", "takes_images": takes_images}))
    records = pd.DataFrame({"report_id": ["a"], "split": ["validation"], "input": ["x"], "images": [["a.png"]],
                            "output": ["y"], "modality": ["ct"]})
    with pytest.raises(RadreportError, match="eval.select_metric clinical_f1_micro does not apply to these reports"):
        evaluate(CheckpointSet(str(tmp_path)), records, EvalConfig(select_metric="clinical_f1_micro"))
