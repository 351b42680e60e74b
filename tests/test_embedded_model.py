"""The real embedded Gemma-3-270M: converted from its PyPI GGUF, fine-tuned a few steps on IU X-Ray pairs."""

import pytest
import torch

from radreport.config import TrainConfig
from radreport.formatting import alpaca_records
from radreport.ingest import ingest
from radreport.errors import RadreportError
from radreport.training.models import EMBEDDED, embedded_gemma, load_tokenizer, resolve_model
from radreport.config import StructuringConfig
from radreport.structuring.reports import structure_reports
from radreport.training.lora import train_lora


def test_embedded_model_loss_falls_on_iu_xray(iu_xray, tmp_path):
    torch.manual_seed(0)
    path = resolve_model(EMBEDDED)
    assert (path / "config.json").exists() and load_tokenizer(path).eos_token == "<eos>"
    records, _ = alpaca_records(structure_reports(ingest(iu_xray).reports, StructuringConfig())[0], "findings_to_impression")
    config = TrainConfig(max_steps=8, save_steps=8, logging_steps=1, batch_size=4, max_length=192,
                         max_train_examples=32, learning_rate=3e-4)
    checkpoints = train_lora(records, config, "findings_to_impression", tmp_path)
    losses = [e["loss"] for e in checkpoints.log_history if "loss" in e]
    assert len(losses) == 8 and sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
    assert checkpoints.steps == [8]


def test_the_conversion_lock_is_never_written_through_a_symlink(tmp_path, monkeypatch):
    target = tmp_path / "precious"
    target.write_text("keep me")
    monkeypatch.setenv("RADREPORT_MODEL_CACHE", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / ".convert.lock").symlink_to(target)
    with pytest.raises(RadreportError, match=r"\.convert\.lock: is a symbolic link"):
        embedded_gemma()
    assert target.read_text() == "keep me"
