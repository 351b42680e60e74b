"""One rank of a multi-process training run (started by distributed.py through `accelerate launch`), or the one
process an Unsloth run trains in:

    python -m radreport.training.worker EXCHANGE_FOLDER TASK OUT_DIR

reads the records and config the launcher left in EXCHANGE_FOLDER, trains with `train_lora` as one process would,
and writes its LoRA weights' digest there (rank-R.sha256) for the launcher to compare. Rank 0 logs into the
launcher's MLflow run (MLFLOW_RUN_ID)."""

import hashlib
import os
import sys
import traceback
from pathlib import Path

import pandas as pd

from radreport.config import TrainConfig


def lora_digest(model) -> str:
    """sha256 over the trainable (LoRA) tensors, in name order."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def rank_digest(folder: Path):
    from transformers import TrainerCallback

    class RankDigest(TrainerCallback):
        def on_train_end(self, args, state, control, model=None, **kwargs):
            (folder / f"rank-{args.process_index}.sha256").write_text(lora_digest(model))

    return RankDigest()


def main(folder: Path, task: str, out_dir: Path) -> None:
    from radreport.training.backends import import_unsloth_first, select_backend

    rank = int(os.environ.get("RANK", "0"))
    cfg = TrainConfig.model_validate_json((folder / "config.json").read_text())
    import_unsloth_first(select_backend(cfg.backend)[0])  # nothing here has imported trl, transformers or peft yet
    from radreport.training.lora import train_lora

    records = pd.read_parquet(folder / "records.parquet")
    tracked = rank == 0 and os.environ.get("MLFLOW_RUN_ID")
    if tracked:
        import mlflow

        mlflow.start_run(run_id=os.environ["MLFLOW_RUN_ID"])
    try:
        train_lora(records, cfg, task, out_dir, callbacks=[rank_digest(folder)])
    except BaseException as error:
        first_line = (str(error).splitlines() or [""])[0][:300]
        print(f"radreport: rank {rank} failed: {type(error).__name__}: {first_line}", file=sys.stderr, flush=True)
        traceback.print_exc()
        raise
    finally:
        if tracked:
            mlflow.end_run(status="RUNNING")  # the launcher's step still owns the run and ends it


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
