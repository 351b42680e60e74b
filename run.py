#!/usr/bin/env python
"""radreport: the one command line.

    python run.py run --config configs/demo.yaml [--data PATH]   train, evaluate and gate a model
    python run.py retrain --config FILE [--data PATH]            the scheduled job: exits early when the data is unchanged
    python run.py schedule --cron "0 2 * * 0" --config FILE      retrain on a schedule (--list, --remove)
    python run.py train --config FILE [--data PATH] [--resume]    the training stage alone (--resume: after a crash)
    python run.py export --name MODEL [--version N] --out DIR [--merged]   the adapter, or merged into 16-bit weights
    python run.py ingest PATH... --out DIR                       validate reports into Parquet + quarantine CSV
    python run.py score --refs FILE --hyps FILE                  BLEU, ROUGE, METEOR, BERTScore, clinical F1 as JSON
    python run.py evaluate --name MODEL [--version N] --data PATH   a version vs base model and trivial baseline
    python run.py promote N --name MODEL [--force --reason ...]  run the gate for a version (or override it)
    python run.py rollback --name MODEL                          champion back to the previous champion
    python run.py human-eval import RATINGS... --name MODEL      radiologists' ratings -> statistics
    python run.py generate --name MODEL --findings "..."        impressions from the champion (or --version N)
    python run.py serve --name MODEL [--version N] [--port 8000]  HTTP endpoint for the champion (or version N)
    python run.py lineage --name MODEL [--version N]             the chain from a version back to its data
    python run.py dashboard                                      MLflow UI + ZenML dashboard on 127.0.0.1 (Ctrl-C stops)
    python run.py models                                         registered versions, aliases, decisions
    python run.py data download iu-xray --out DIR                fetch Open-i's IU X-Ray reports
    python run.py stack                                          create/show the local ZenML + MLflow stack
"""

import argparse
import hashlib
import re
import shutil
import sys
import time
from pathlib import Path

from ops.env import configure


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="state directory (default: $RADREPORT_HOME or ./.radreport)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the training pipeline")
    run.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML")
    run.add_argument("--data", help="reports to train on (overrides data.path); default: the synthetic sample")
    run.add_argument("--zenml-config", help="ZenML run settings (per-step resources, step operator, image), e.g. "
                                            "configs/stacks/kubernetes_run.yaml")

    retrain = sub.add_parser("retrain", help="train, evaluate and gate on the newest data, unless it is unchanged")
    retrain.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML")
    retrain.add_argument("--data", help="reports (overrides data.path)")
    retrain.add_argument("--name", help="schedule name (default: the config file's name)")
    retrain.add_argument("--stale-after-hours", type=float, default=12.0,
                         help="a lock held longer than this is reported as probably hung (the kernel frees a dead run's lock)")
    retrain.add_argument("--force", action="store_true", help="run even when the data is unchanged")

    schedule = sub.add_parser("schedule", help="run `retrain` on a cron schedule")
    schedule.add_argument("--cron", help='cron expression, e.g. "0 2 * * 0" (Sundays at 02:00)')
    schedule.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML")
    schedule.add_argument("--data", help="reports (overrides data.path)")
    schedule.add_argument("--name", help="schedule name (default: the config file's name)")
    action = schedule.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="show installed schedules")
    action.add_argument("--remove", action="store_true", help="remove this schedule")

    train = sub.add_parser("train", help="the training stage alone, outside the pipeline: checkpoints to --out")
    train.add_argument("--config", default="configs/demo.yaml")
    train.add_argument("--data", help="report file or folder (overrides data.path)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the newest complete checkpoint of an interrupted run of the same data and "
                            "config (a half-written one is skipped); without it, start from step 0")
    train.add_argument("--out", help="folder for the kept checkpoints (default: <home>/exports/train/<config name>); "
                                     "an earlier train output there is replaced")
    train.add_argument("--overwrite", action="store_true", help="delete --out even when it holds anything else")

    export = sub.add_parser("export", help="a registered version's adapter, or (--merged) a standalone 16-bit model")
    export.add_argument("--name", required=True, help="registered model name")
    export.add_argument("--version", help="version (default: the champion)")
    export.add_argument("--out", required=True, help="folder to write (must not exist)")
    export.add_argument("--merged", action="store_true", help="merge the adapter into the base model's 16-bit weights")
    export.add_argument("--base", help="16-bit copy of the base model, when it was trained from a 4-bit checkpoint")
    export.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])

    ingest = sub.add_parser("ingest", help="read reports into the schema; write accepted (Parquet) and quarantine (CSV)")
    ingest.add_argument("paths", nargs="+", help="report files or folders")
    ingest.add_argument("--format", default="auto", help="auto|iu-csv|openi-xml|mimic|text-dir|csv|jsonl|parquet")
    ingest.add_argument("--config", help="pipeline YAML whose data: section applies (column mapping, policies)")
    ingest.add_argument("--out", required=True, help="output folder")

    score = sub.add_parser("score", help="corpus metrics of hypotheses against references, as JSON")
    score.add_argument("--refs", required=True, help="references: plain text (one per line) or JSONL with 'text'")
    score.add_argument("--hyps", required=True, help="hypotheses, same format and order")
    score.add_argument("--metrics", nargs="+", default=["bleu", "rouge", "meteor", "bertscore", "clinical"],
                       choices=["bleu", "rouge", "meteor", "bertscore", "clinical"])
    score.add_argument("--green-url", help="OpenAI-compatible endpoint of a GREEN judge (adds GREEN)")
    score.add_argument("--green-model", default="StanfordAIMI/GREEN-RadLlama2-7b", help="model the judge serves")

    evaluate = sub.add_parser("evaluate", help="score a registered version, the base model and a trivial baseline")
    evaluate.add_argument("--name", required=True, help="registered model name (see `run.py models`)")
    evaluate.add_argument("--version", help="version number (default: the champion)")
    evaluate.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML (data, format, eval sections)")
    evaluate.add_argument("--data", help="reports (overrides data.path)")
    evaluate.add_argument("--split", default="test", choices=["validation", "test"])
    evaluate.add_argument("--max-examples", type=int, default=100_000)
    evaluate.add_argument("--json", action="store_true",
                          help="print one JSON object: corpus scores keyed by system (model, each baseline, base)")

    promote = sub.add_parser("promote", help="run the promotion gate for one registered version")
    promote.add_argument("version", type=int)
    promote.add_argument("--name", required=True, help="registered model name")
    promote.add_argument("--config", default="configs/demo.yaml", help="pipeline YAML whose promotion: policy applies")
    promote.add_argument("--force", action="store_true", help="make it champion whatever the gate says (needs --reason)")
    promote.add_argument("--reason", default="", help="why, recorded with the decision")

    rollback = sub.add_parser("rollback", help="move champion back to the previous champion")
    rollback.add_argument("--name", required=True, help="registered model name")
    rollback.add_argument("--reason", default="manual rollback", help="why, recorded with the decision")

    human = sub.add_parser("human-eval", help="radiologists' ratings")
    human_sub = human.add_subparsers(dest="human_command", required=True)
    ratings = human_sub.add_parser("import", help="validate, unblind and summarise rating CSVs for a version")
    ratings.add_argument("ratings", nargs="+", help="CSV files downloaded from the form or saved from the sheet")
    ratings.add_argument("--name", required=True, help="registered model name")
    ratings.add_argument("--version", help="version that was rated (default: the champion)")
    ratings.add_argument("--key", help="unblinding key CSV (default: the one in the version's MLflow run)")

    gen = sub.add_parser("generate", help="write impressions with a registered version (default: the champion)")
    gen.add_argument("--name", required=True, help="registered model name")
    gen.add_argument("--version", help="version (default: the champion)")
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--findings", help="one findings text (text models)")
    source.add_argument("--images", nargs="+", help="one study's image files, frontal first (image models)")
    source.add_argument("--input", help="JSONL with a 'findings' text (or, for image models, an 'images' list) per line")
    gen.add_argument("--output", help="JSONL to write (with --input): each input row plus 'generated'")
    gen.add_argument("--batch-size", type=int, default=8)
    gen.add_argument("--max-new-tokens", type=int, default=96)

    serve = sub.add_parser("serve", help="an HTTP endpoint writing impressions with the champion (or --version N)")
    serve.add_argument("--name", required=True, help="registered model name")
    serve.add_argument("--version", help="version (default: the champion)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-batch", type=int, default=32, help="most findings texts in one request")
    serve.add_argument("--max-chars", type=int, default=4000, help="longest findings text accepted")
    serve.add_argument("--max-body-mb", type=int, default=16, help="largest request body for an image model")
    serve.add_argument("--max-queue", type=int, default=8, help="generation requests waiting or running; past it, 503 with Retry-After")
    serve.add_argument("--timeout-s", type=float, default=300.0, help="a request's wait plus generation before 504")

    lineage = sub.add_parser("lineage", help="the chain from a registered version back to its data")
    lineage.add_argument("--name", required=True, help="registered model name")
    lineage.add_argument("--version", help="version (default: the champion)")

    dashboard = sub.add_parser("dashboard", help="the MLflow UI and the ZenML dashboard on 127.0.0.1; Ctrl-C stops both")
    dashboard.add_argument("--mlflow-port", type=int, default=5000)
    dashboard.add_argument("--zenml-port", type=int, default=8237)

    models = sub.add_parser("models", help="list registered model versions")
    models.add_argument("--name", help="only this registered model")

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    download = data_sub.add_parser("download", help="download a public dataset (needs internet)")
    download.add_argument("dataset", choices=["iu-xray"])
    download.add_argument("--out", default="data/iu_xray_openi", help="folder for the XML reports")
    download.add_argument("--url", help="archive URL (default: Open-i's NLMCXR_reports.tgz)")

    sub.add_parser("stack", help="create (idempotently) and show the local stack")
    return parser.parse_args(argv)


def default_model_name(task: str, data_path: str, synthetic: bool) -> str:
    dataset = "synthetic" if synthetic else re.sub(r"[^a-z0-9]+", "-", Path(data_path).stem.lower()).strip("-")
    return f"radreport-{task.replace('_', '-')}-{dataset}"


def load_pipeline_config(path: str, data: str | None):
    """The config with data.path resolved: the synthetic sample when none is given."""
    from radreport.config import load_config
    from radreport.paths import home
    from radreport.sample_data import write_sample

    from radreport.remote import is_remote

    config = load_config(path, data)
    if config.data.path is None:
        config.data.path = str(write_sample(home() / "data" / "synthetic_reports.jsonl"))
    elif is_remote(config.data.path):
        return config  # read by the ingest step, wherever it runs (object storage on a cluster)
    elif not Path(config.data.path).exists():
        raise SystemExit(f"--data {config.data.path}: no such file or folder")
    config.data.path = str(Path(config.data.path).resolve())
    return config


def text_only(config, path: str, command: str):
    from radreport.config import VisionPipelineConfig

    if isinstance(config, VisionPipelineConfig):
        raise SystemExit(f"{path}: run.py {command} takes text configs; an image config trains and evaluates "
                         "through `run.py run`")
    return config


def cmd_run(args) -> None:
    config = load_pipeline_config(args.config, args.data)
    started = time.perf_counter()
    run = run_training(config, zenml_config=args.zenml_config)
    report_run(run, time.perf_counter() - started)


def model_name_of(config) -> str:
    from radreport.config import VisionPipelineConfig
    from radreport.paths import home

    synthetic = config.data.path == str(home() / "data" / "synthetic_reports.jsonl")
    task = "image_to_structured" if isinstance(config, VisionPipelineConfig) else config.format.task
    return config.promotion.model_name or default_model_name(task, config.data.path, synthetic)


def champion_now(config) -> str:
    """The registry's real champion for this config's model, as words (for messages after a failure)."""
    from ops.stack import bootstrap
    from radreport.gate import real_champion

    try:
        bootstrap()
        champion = real_champion(registry_client(), model_name_of(config))
    except Exception as err:  # noqa: BLE001 - a message about the registry must not raise itself
        return f"unknown ({type(err).__name__} reading the registry)"
    return f"v{champion}" if champion is not None else "none"


def prepare_backend(requested: str) -> None:
    """Import Unsloth now, before the pipeline imports trl/transformers/peft, when it is the backend here."""
    from radreport.backends import BackendUnavailable, import_unsloth_first, select_backend

    try:
        backend, _ = select_backend(requested)
    except BackendUnavailable:
        return  # it may run elsewhere (a GPU step operator): the training step decides, and fails loudly, there
    import_unsloth_first(backend)


def run_training(config, schedule=None, zenml_config: str | None = None):
    """One run of the training pipeline on the configured data (the ZenML pipeline run), or, given a ZenML
    Schedule, its registration on an orchestrator that runs schedules."""
    from radreport.config import VisionPipelineConfig
    from radreport.ingest import source_fingerprint
    from radreport.paths import exports

    vision = isinstance(config, VisionPipelineConfig)
    model_name = model_name_of(config)
    prepare_backend(config.train.backend)

    from ops.stack import bootstrap
    from pipelines.training import training_pipeline
    from pipelines.vision import vision_pipeline

    from zenml import Model

    bootstrap()
    # The ZenML Model Control Plane mirrors the MLflow registry: one model version per run, staged by the gate.
    pipeline = (vision_pipeline if vision else training_pipeline).with_options(
        model=Model(name=model_name, description="radreport LoRA adapter"), schedule=schedule, config_path=zenml_config)
    return pipeline(config, source_fingerprint(config.data.path), model_name, str(exports() / model_name))


def cmd_retrain(args) -> None:
    from radreport.ingest import source_fingerprint
    from radreport.paths import home
    from radreport.schedule import RetrainState, run_lock, validate_name

    name = validate_name(args.name or Path(args.config).stem)
    config = load_pipeline_config(args.config, args.data)
    prepare_backend(config.train.backend)  # before champion_now's bootstrap imports the ML libraries
    state = RetrainState(home() / "schedule", name)
    with run_lock(home() / "schedule" / f"{name}.lock", args.stale_after_hours * 3600):
        fingerprint = source_fingerprint(config.data.path)
        config_digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
        last = state.last_success()
        # a state written before config digests were kept counts as the same config once
        unchanged = last and last["data_fingerprint"] == fingerprint and last.get("config_digest", config_digest) == config_digest
        if unchanged and not args.force:
            state.record("skipped", fingerprint, reason="no new data, same config", config_digest=config_digest)
            print(f"retrain {name}: no new data in {config.data.path} and the same config since the last "
                  f"successful run ({last['time']}); nothing to do")
            return
        started, champion_before = time.perf_counter(), champion_now(config)
        try:
            run = run_training(config)
        except (Exception, SystemExit) as err:
            reason = f"{type(err).__name__}: {err}"[:1000]
            champion_after = champion_now(config)
            state.record("failed", fingerprint, config_digest=config_digest, error=reason, champion_before=champion_before,
                         champion_after=champion_after)
            moved = "unchanged" if champion_after == champion_before else f"moved from {champion_before}"
            raise SystemExit(f"retrain {name}: failed ({reason}); the registry's champion is {champion_after} "
                             f"({moved}); log: {state.log_path}") from err
        decision = run.steps["promote_model"].outputs["promotion_decision"][0].load()
        state.record("succeeded", fingerprint, config_digest=config_digest, zenml_run_id=str(run.id),
                     model=decision["model_name"],
                     version=decision["version"], alias=decision["alias"])
        report_run(run, time.perf_counter() - started)


SCHEDULING_ORCHESTRATORS = {"kubernetes", "kubeflow", "airflow", "vertex", "sagemaker", "azureml", "tekton",
                            "databricks", "lightning"}


def cmd_schedule(args) -> None:
    import shlex
    import subprocess

    from radreport.paths import home
    from radreport.schedule import (cron_command, entries, systemd_units, validate_cron, validate_name, with_entry,
                                    without_entry, write_wrapper)

    def read_crontab() -> str:
        listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
        return listed.stdout if listed.returncode == 0 else ""

    def write_crontab(text: str) -> None:
        subprocess.run(["crontab", "-"], input=text, text=True, check=True)

    has_crontab = shutil.which("crontab") is not None
    if args.list:
        found = entries(read_crontab()) if has_crontab else {}
        units = sorted(p.name for p in (home() / "schedule" / "systemd").glob("*.timer"))
        print("\n".join([*found.values(), *units]) or "no radreport schedules")
        return
    name = validate_name(args.name or Path(args.config).stem)
    if args.remove:
        if has_crontab:
            write_crontab(without_entry(read_crontab(), name))
        for unit in (home() / "schedule" / "systemd").glob(f"radreport-retrain-{name}.*"):
            unit.unlink()
        (home() / "schedule" / f"{name}.sh").unlink(missing_ok=True)
        print(f"schedule {name} removed")
        return
    if not args.cron:
        raise SystemExit("schedule needs --cron (or --list / --remove)")
    validate_cron(args.cron)
    config = load_pipeline_config(args.config, args.data)
    from ops.stack import bootstrap

    bootstrap()
    from zenml.client import Client

    flavor = Client().active_stack.orchestrator.flavor
    if flavor in SCHEDULING_ORCHESTRATORS:
        from zenml.config.schedule import Schedule

        run_training(config, Schedule(name=f"radreport-{name}", cron_expression=args.cron))
        print(f"ZenML schedule radreport-{name} ({args.cron}) created on the {flavor} orchestrator")
        return
    log = home() / "schedule" / f"{name}.out"
    argv = [sys.executable, str(Path(__file__).resolve()), "--home", str(home()), "retrain", "--name", name,
            "--config", str(Path(args.config).resolve()), "--data", config.data.path]
    script = write_wrapper(home() / "schedule" / f"{name}.sh", Path(__file__).resolve().parent, argv, log)
    if has_crontab:
        write_crontab(with_entry(read_crontab(), name, args.cron, cron_command(script)))
        print(f"crontab: {args.cron} retrain {name} (the {flavor} orchestrator has no schedules); output -> {log}")
        return
    units = home() / "schedule" / "systemd"
    units.mkdir(parents=True, exist_ok=True)
    for unit, text in systemd_units(name, args.cron, script).items():
        (units / unit).write_text(text)
    service, timer = (shlex.quote(str(units / f"radreport-retrain-{name}.{kind}")) for kind in ("service", "timer"))
    print(f"no crontab here: systemd units written to {units}; enable them with\n"
          f"  systemctl --user link {service} {timer}\n"
          f"  systemctl --user enable --now radreport-retrain-{name}.timer")


def report_run(run, seconds: float) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from radreport.paths import home

    run = Client().get_pipeline_run(run.id)
    cached = [name for name, s in run.steps.items() if s.status == ExecutionStatus.CACHED]
    evaluation = run.steps.get("evaluate_checkpoints") or run.steps["evaluate_vision"]
    scores = evaluation.outputs["checkpoint_scores"][0].load().set_index("system")
    best_step = evaluation.outputs["best_step"][0].load()
    decision = run.steps["promote_model"].outputs["promotion_decision"][0].load()
    print(f"\nrun {run.name}: {run.status.value} in {seconds:.0f} s; cached steps: {', '.join(cached) or 'none'}")
    shown = [m for m in ("rougeL", "bleu4", "clinical_f1_micro", "abnormal_recall") if m in scores.columns]
    systems = [s for s in scores.index if not s.startswith("step-")] + [f"step-{best_step}"]
    table = scores.loc[systems, shown].rename(index={f"step-{best_step}": f"fine-tuned (step {best_step})"})
    print(f"held-out scores, the fine-tuned model beside every baseline:\n{table.round(4).to_string()}")
    again = "already registered: " if decision["already_registered"] else ""
    print(f"registry: {decision['model_name']} v{decision['version']} -> {decision['alias']} ({again}{decision['reason']})")
    print(f"dashboards (MLflow UI + ZenML: runs, metrics, lineage): python run.py dashboard --home {home()}")


def cmd_ingest(args) -> None:
    from radreport.config import load_config
    from radreport.ingest import IngestError, fingerprint, ingest
    from radreport.sheets import write_csv

    data = load_config(args.config).data
    try:
        data = data.model_validate({**data.model_dump(), "format": args.format})
        result = ingest(args.paths, data)
    except IngestError as err:
        raise SystemExit(f"ingest: {err}") from None
    except ValueError as err:
        raise SystemExit(f"ingest: --format: {err.errors()[0]['msg'] if hasattr(err, 'errors') else err}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.reports.to_parquet(out / "reports.parquet", index=False)
    write_csv(result.quarantine, out / "quarantine.csv")
    print(" ".join(f"{k}={v}" for k, v in result.counts.items()) + f" fingerprint={fingerprint(result.reports)}")
    print(f"wrote {out / 'reports.parquet'} and {out / 'quarantine.csv'}")


def read_texts(path: str) -> list[str]:
    import json

    lines = Path(path).read_text().splitlines()
    if path.endswith(".jsonl"):
        try:
            return [json.loads(line)["text"] for line in lines if line.strip()]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise SystemExit(f"{path}: every line must be a JSON object with a 'text' field ({err})") from None
    return lines


def cmd_score(args) -> None:
    import json

    from radreport.config import GreenJudgeConfig
    from radreport.metrics import MetricSuite

    references, hypotheses = read_texts(args.refs), read_texts(args.hyps)
    if len(references) != len(hypotheses):
        raise SystemExit(f"{len(references)} references but {len(hypotheses)} hypotheses")
    green = GreenJudgeConfig(base_url=args.green_url, model=args.green_model) if args.green_url else None
    suite = MetricSuite(args.metrics, green=green)
    corpus, _ = suite.score(references, hypotheses)
    print(json.dumps({"pairs": len(references), **{k: round(v, 6) for k, v in corpus.items()}, "notes": suite.notes}))


def instruction_records(config):
    """The pipeline's first three stages in one process: ingest, structure, format."""
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.run import structure_reports

    reports = ingest(config.data.path, config.data).reports
    return alpaca_records(structure_reports(reports, config.structuring)[0], config.format.task)[0]


def is_train_output(folder: Path) -> bool:
    """What `train` leaves: a manifest naming its training config, tokenizer, step-N adapters, retrieval index."""
    import json

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    expected = {"manifest.json", "log_history.json", "tokenizer", "retrieval.jsonl"}
    return (isinstance(manifest, dict) and "train_config" in manifest
            and all(p.name in expected or p.name.startswith("step-") for p in folder.iterdir()))


def cmd_train(args) -> None:
    from radreport.paths import exports

    config = text_only(load_pipeline_config(args.config, args.data), args.config, "train")
    prepare_backend(config.train.backend)
    from radreport.training import train_lora
    out = Path(args.out or exports() / "train" / Path(args.config).stem)
    if out.is_dir() and any(out.iterdir()) and not (args.overwrite or is_train_output(out)):
        raise SystemExit(f"train --out {out}: not empty and not an earlier `train` output; choose a new folder "
                         "or pass --overwrite to delete it")
    if out.exists():
        shutil.rmtree(out)
    records = instruction_records(config)
    checkpoints = train_lora(records, config.train.model_copy(update={"resume": args.resume}), config.format.task, out)
    summary = checkpoints.manifest["summary"]
    start = f"resumed from step {summary['resumed_from_step']}" if summary["resumed_from_step"] else "from step 0"
    print(f"train ({summary['backend']}): {start} to step {summary['global_step']} in {summary['train_seconds']} s, "
          f"final train loss {summary['final_train_loss']:.3f}; best eval loss at step "
          f"{summary['best_eval_loss_step']}; checkpoints {checkpoints.steps} in {out}")


def cmd_export(args) -> None:
    import tempfile

    from radreport.export import export_adapter, export_merged
    from radreport.registry import download_checkpoint, resolve_version

    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"export --out {out}: already exists; choose a new folder")
    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = download_checkpoint(client, args.name, version, Path(tmp) / "checkpoint")
        step = checkpoints.steps[-1]
        if args.merged:
            export_merged(checkpoints, step, out, args.base, args.dtype)
        else:
            export_adapter(checkpoints, step, out)
    what = f"merged {args.dtype} model" if args.merged else "adapter"
    print(f"{args.name} v{version} (step {step}): {what} -> {out}")


def cmd_evaluate(args) -> None:
    import json
    import tempfile

    from radreport.evaluation import evaluate_checkpoints
    from radreport.registry import download_checkpoint, resolve_version

    started = time.perf_counter()
    config = text_only(load_pipeline_config(args.config, args.data), args.config, "evaluate")
    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    eval_config = config.eval.model_copy(update={"split": args.split, "max_examples": args.max_examples})
    records = instruction_records(config)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = download_checkpoint(client, args.name, version, Path(tmp) / "checkpoint")
        result = evaluate_checkpoints(checkpoints, records, eval_config)
    if args.json:
        print(json.dumps(result.by_system))
        return
    scores = result.scores.rename(index={f"step-{result.best_step}": f"{args.name} v{version}"})
    print(f"{args.split} split, {len(result.examples)} examples, {time.perf_counter() - started:.0f} s\n"
          f"{scores.round(4).to_string()}\n" + "\n".join(result.notes))


def registry_client():
    from mlflow import MlflowClient

    from ops.stack import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def mirror_stage(client, name: str, version: int, alias: str):
    from ops.lineage import mirror_to_model_control_plane
    from ops.stack import bootstrap

    bootstrap()
    tags = client.get_model_version(name, str(version)).tags
    return mirror_to_model_control_plane(name, tags.get("zenml.model_version"), alias)


def cmd_promote(args) -> None:
    from radreport.config import load_config
    from radreport.gate import actor, gate_version

    if args.force and not args.reason.strip():
        raise SystemExit("promote --force needs --reason \"...\": an override is only accepted with its reason on record")
    policy = load_config(args.config).promotion
    client = registry_client()
    entry = gate_version(client, args.name, args.version, policy, actor(),
                         force_reason=args.reason if args.force else None)
    stage = mirror_stage(client, args.name, args.version, entry["result"])
    print(f"{args.name} v{args.version}: {entry['action']} -> {entry['result']} ({entry['reason']})"
          + (f"; ZenML model stage {stage}" if stage else ""))


def cmd_rollback(args) -> None:
    from radreport.gate import actor, rollback

    client = registry_client()
    entry = rollback(client, args.name, actor(), args.reason)
    mirror_stage(client, args.name, entry["version"], "champion")
    mirror_stage(client, args.name, entry["champion_version"], "challenger")
    print(f"{args.name}: champion is v{entry['version']} again ({entry['reason']})")


def cmd_human_eval(args) -> None:
    from radreport.human_eval import RatingsError, import_ratings
    from radreport.registry import resolve_version

    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    try:
        stats = import_ratings(client, args.name, version, args.ratings, args.key)
    except RatingsError as err:
        raise SystemExit(f"nothing imported:\n{err}") from None
    low, high = stats["mean_model_rating_ci"]
    print(f"{args.name} v{version}: {stats['ratings']} ratings by {stats['raters']} raters on {stats['cases']} cases\n"
          f"  model preferred in {stats['model_preference_rate']:.1%}\n"
          f"  mean rating: model {stats['mean_model_rating']:.2f} (95% CI {low:.2f}-{high:.2f}), "
          f"radiologist {stats['mean_radiologist_rating']:.2f}\n"
          f"  Krippendorff's alpha (interval): {stats['krippendorff_alpha_interval']:.3f}")
    for rater in stats["per_rater"]:
        print(f"  rater {rater['rater_id']}: {rater['cases']} cases, model {rater['model_mean']:.2f}, "
              f"radiologist {rater['radiologist_mean']:.2f}, model preferred {rater['model_preferred']:.0%}")


def cmd_generate(args) -> None:
    import json

    from radreport.registry import resolve_version
    from radreport.serving import RegisteredModel, images_problem, read_inputs

    if args.input and not args.output:
        raise SystemExit("generate --input needs --output")
    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    takes_images = client.get_model_version(args.name, str(version)).tags.get("takes_images") == "True"
    if (args.images is not None) != takes_images and not args.input:
        raise SystemExit(f"{args.name} v{version} writes reports from " + ("images: give --images or --input"
                         if takes_images else "findings text: give --findings or --input"))
    rows = (read_inputs(Path(args.input), takes_images) if args.input else
            [{"images": args.images}] if takes_images else [{"findings": args.findings}])
    if args.images and (problem := images_problem(rows[0])):
        raise SystemExit(f"--images: {problem}")
    model = RegisteredModel(client, args.name, version)
    inputs = [r["images"] if takes_images else r.get("findings", r.get("input")) for r in rows]
    texts = model.generate(inputs, args.batch_size, args.max_new_tokens)
    if not args.input:
        print(texts[0])
        return
    with open(args.output, "w") as out:
        for row, text in zip(rows, texts):
            out.write(json.dumps({**row, "generated": text, "model": f"{args.name}/v{version}"}) + "\n")
    print(f"{len(rows)} {'reports' if takes_images else 'impressions'} by {args.name} v{version} -> {args.output}")


def cmd_serve(args) -> None:
    import uvicorn

    from radreport.registry import resolve_version
    from radreport.serving import RegisteredModel, served_ids
    from radreport.service import Limits, create_app

    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    model = RegisteredModel(client, args.name, version)
    limits = Limits(max_batch=args.max_batch, max_chars=args.max_chars,
                    max_body_bytes=args.max_body_mb * 2**20 if model.takes_images else Limits.max_body_bytes,
                    max_images=model.checkpoints.manifest.get("max_images", 2), max_queue=args.max_queue,
                    timeout_s=args.timeout_s)
    model_ids = served_ids(client, args.name, version)
    app = create_app(model, {"model": args.name, "version": version, "task": model.task}, limits, model_ids)
    routes = "POST /v1/report" if model.takes_images else \
        f"POST /v1/generate; OpenAI-compatible /v1/chat/completions, /v1/completions as {', '.join(model_ids())}"
    print(f"serving {args.name} v{version} at http://{args.host}:{args.port} ({routes}; GET /health)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def cmd_lineage(args) -> None:
    import json

    from radreport.gate import audit_log
    from radreport.registry import resolve_version

    client = registry_client()
    version = resolve_version(client, args.name, args.version)
    info = client.get_model_version(args.name, str(version))
    tags, run = dict(info.tags), client.get_run(info.run_id)
    aliases = [a for a, v in client.get_registered_model(args.name).aliases.items() if int(v) == version]
    print(f"{args.name} v{version}  aliases: {', '.join(aliases) or '-'}  source: {info.source}")
    print(f"  MLflow run {run.info.run_id} (experiment {run.info.experiment_id}), git {tags.get('git_commit', '?')}")
    print(f"  data: {run.data.tags.get('data_path', '?')}  fingerprint {tags.get('data_fingerprint')}  "
          + " ".join(f"{k.removeprefix('ingest_')}={int(v)}" for k, v in sorted(run.data.metrics.items())
                     if k.startswith("ingest_") and k.removeprefix("ingest_") in ("read", "accepted", "quarantined")))
    print(f"  structuring: {run.data.tags.get('structuring_backend', '?')} "
          f"(prompt {run.data.tags.get('structuring_prompt_version', '-')})")
    print(f"  training: base {tags.get('base_model')}, task {tags.get('task')}, step {tags.get('step')}, backend "
          f"{run.data.tags.get('train_backend', '?')}; " + ", ".join(
              f"{k.removeprefix('config.train.')}={v}" for k, v in sorted(run.data.params.items())
              if k in {f"config.train.{p}" for p in ("lora_r", "learning_rate", "max_steps", "batch_size")}))
    print("  evaluation: " + ", ".join(f"{k.removeprefix('metric.')}={float(v):.4f}" for k, v in sorted(tags.items())
                                       if k.startswith("metric.")))
    human = {k.removeprefix("human_eval."): v for k, v in tags.items() if k.startswith("human_eval.")}
    print(f"  human evaluation: {human or 'none imported'}")
    zenml_run = tags.get("zenml.pipeline_run_id")
    if zenml_run and zenml_run != "none":
        from zenml.client import Client

        from ops.stack import bootstrap

        bootstrap()
        pipeline_run = Client().get_pipeline_run(zenml_run)
        steps = ", ".join(f"{n}:{s.status.value}" for n, s in pipeline_run.steps.items())
        print(f"  ZenML run {pipeline_run.name} ({zenml_run}), model version {tags.get('zenml.model_version', '-')}: {steps}")
    decisions = [json.loads(line) for line in audit_log().read_text().splitlines()] if audit_log().exists() else []
    for entry in (e for e in decisions if e["model"] == args.name and e["version"] == version
                  and e["action"] != "intent"):  # an intent is followed by its decision (or a settle entry)
        print(f"  decision {entry['time']} {entry['action']} -> {entry['result']} by {entry['by']}: {entry['reason']}")


def cmd_dashboard(args) -> None:
    from ops.dashboard import mlflow_ui, running, zenml_dashboard
    from ops.stack import bootstrap
    from radreport.paths import home

    bootstrap()  # the server reads the client's store, so it must exist and be migrated first
    servers = [mlflow_ui(args.mlflow_port), zenml_dashboard(args.zenml_port)]
    log_dir = home() / "logs"
    with running(servers, log_dir) as processes:
        for server in servers:
            print(f"{server.name:16} {server.url}", flush=True)
        print(f"logs in {log_dir}; Ctrl-C stops both", flush=True)
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopping", flush=True)
            return
    dead = next(s for s, p in zip(servers, processes) if p.returncode is not None)
    raise SystemExit(f"{dead.name} stopped unexpectedly; see {log_dir}")


def cmd_models(args) -> None:
    from radreport.registry import list_versions

    rows = list_versions(registry_client(), args.name)
    if not rows:
        print("no registered models yet: run `python run.py run` first")
        return
    print(f"{'model':45} {'ver':>3}  {'aliases':18} {'rougeL':>7} {'bleu4':>6} {'BERTScr':>7} {'rating':>6}  decision")
    for name, v in rows:
        metric = lambda key: float(v.tags.get(f"metric.{key}", "nan"))  # noqa: E731
        print(f"{name:45} {v.version:>3}  {','.join(v.aliases) or '-':18} {metric('rougeL'):7.4f} {metric('bleu4'):6.2f} "
              f"{metric('bertscore_f1'):7.4f} {v.tags.get('human_eval.mean_model_rating', '-'):>6}  "
              f"{v.tags.get('gate.decision', '-')}: {v.tags.get('gate.reason', '')}")


def cmd_data(args) -> None:
    import tarfile

    from radreport.openi import OPENI_REPORTS_URL, download_reports

    try:
        out = download_reports(args.out, args.url or OPENI_REPORTS_URL)
    except (ValueError, OSError, tarfile.TarError) as err:
        raise SystemExit(f"data download: {err}") from None
    print(f"{len(list(out.glob('*.xml')))} OpenI XML reports in {out}; train with: python run.py run --data {out}")


def cmd_stack(args) -> None:
    from ops.stack import bootstrap, tracking_uri
    from radreport.paths import home

    print(f"stack {bootstrap()} active; state in {home()}; MLflow tracking URI {tracking_uri()}")


def main(argv=None) -> None:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    configure(args.home)
    {"run": cmd_run, "train": cmd_train, "export": cmd_export, "ingest": cmd_ingest, "score": cmd_score,
     "evaluate": cmd_evaluate, "promote": cmd_promote, "rollback": cmd_rollback, "human-eval": cmd_human_eval,
     "generate": cmd_generate, "serve": cmd_serve, "retrain": cmd_retrain, "schedule": cmd_schedule,
     "lineage": cmd_lineage, "dashboard": cmd_dashboard, "models": cmd_models, "data": cmd_data,
     "stack": cmd_stack}[args.command](args)


if __name__ == "__main__":
    main()
