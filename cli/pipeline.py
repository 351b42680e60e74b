"""Pipeline commands: run, prefer, retrain, schedule, train."""

import time
from pathlib import Path

import click

from cli.shared import config_option, data_option
from radreport.errors import RadreportError


def text_only(config, path: str, command: str):
    from radreport.modality import IMAGE, of_config

    if of_config(config) is IMAGE:
        raise RadreportError(f"{path}: run.py {command} takes text configs; an image config trains and evaluates "
                             "through `run.py run`")
    return config


def show_summary(summary) -> None:
    from radreport.evaluation.systems import system_of_step
    from radreport.paths import home

    table = summary.scores.rename(index={system_of_step(summary.best_step): f"fine-tuned (step {summary.best_step})"})
    decision = summary.decision
    again = "already registered: " if decision["already_registered"] else ""
    click.echo(f"\nrun {summary.name}: {summary.status} in {summary.seconds:.0f} s; cached steps: "
               f"{', '.join(summary.cached_steps) or 'none'}\n"
               f"held-out scores, the fine-tuned model beside every baseline:\n{table.round(4).to_string()}\n"
               f"registry: {decision['model_name']} v{decision['version']} -> {decision['alias']} "
               f"({again}{decision['reason']})\n"
               f"dashboards (MLflow UI + ZenML: runs, metrics, lineage): python run.py dashboard --home {home()}")


@click.command()
@config_option
@data_option
@click.option("--zenml-config", help="ZenML run settings (per-step resources, step operator, image), e.g. "
                                     "configs/stacks/kubernetes_run.yaml.")
def run(config, data, zenml_config):
    """Train, evaluate and gate a model: the whole pipeline."""
    from ops.runs import run_pipeline

    return run_and_show(run_pipeline, config, data, zenml_config)


@click.command()
@config_option
@data_option
@click.option("--zenml-config", help="ZenML run settings (per-step resources, step operator, image).")
def prefer(config, data, zenml_config):
    """Tune the champion on preferences (a clinical judge, radiologists' ratings), then evaluate and gate it."""
    from ops.runs import run_preference

    return run_and_show(run_preference, config, data, zenml_config)


def run_and_show(start, config: str, data: str | None, zenml_config: str | None):
    """One pipeline run of the resolved config (`start`: ops.runs.run_pipeline or run_preference), its summary shown."""
    from ops.runs import summarize
    from radreport.recipe import resolve

    started = time.perf_counter()
    summary = summarize(start(resolve(config, data), zenml_config=zenml_config), time.perf_counter() - started)
    show_summary(summary)
    return summary


@click.command()
@config_option
@data_option
@click.option("--name", help="Schedule name (default: the config file's name).")
@click.option("--stale-after-hours", type=float, default=12.0, show_default=True,
              help="A lock held longer than this is reported as probably hung (the kernel frees a dead run's lock).")
@click.option("--force", is_flag=True, help="Run even when the data is unchanged.")
def retrain(config, data, name, stale_after_hours, force):
    """The scheduled job: train, evaluate and gate on the newest data, unless it is unchanged."""
    from ops.retrain import retrain as retrain_once
    from radreport.recipe import resolve
    from radreport.schedule import validate_name

    name = schedule_name(name, config, validate_name)
    outcome = retrain_once(resolve(config, data), name, stale_after_hours * 3600, force)
    if outcome.summary is None:
        click.echo(f"retrain {name}: {outcome.reason}; nothing to do")
    else:
        show_summary(outcome.summary)
        if outcome.preference is not None:
            show_summary(outcome.preference)
    return outcome


def schedule_name(name: str | None, config: str, validate) -> str:
    if name:
        return validate(name)
    try:
        return validate(Path(config).stem)
    except RadreportError as err:
        raise RadreportError(f"{err}; pass --name") from None


@click.command()
@click.option("--cron", help='Cron expression, e.g. "0 2 * * 0" (Sundays at 02:00).')
@config_option
@data_option
@click.option("--name", help="Schedule name (default: the config file's name).")
@click.option("--list", "list_", is_flag=True, help="Show installed schedules.")
@click.option("--remove", is_flag=True, help="Remove this schedule.")
def schedule(cron, config, data, name, list_, remove):
    """Run `retrain` on a cron schedule (--list, --remove)."""
    from ops import scheduling
    from radreport.recipe import resolve
    from radreport.schedule import validate_cron, validate_name

    if list_ and remove:
        raise click.UsageError("--list and --remove are exclusive")
    if list_:
        found = scheduling.listed()
        click.echo("\n".join(found) or "no radreport schedules")
        return found
    name = schedule_name(name, config, validate_name)
    if remove:
        scheduling.remove(name)
        click.echo(f"schedule {name} removed")
        return name
    if not cron:
        raise RadreportError("schedule needs --cron (or --list / --remove)")
    validate_cron(cron)
    installed = scheduling.install(name, cron, resolve(config, data), config)
    if installed.kind == "zenml":
        click.echo(f"ZenML schedule radreport-{name} ({cron}) created on the {installed.flavor} orchestrator")
    elif installed.kind == "crontab":
        click.echo(f"crontab: {cron} retrain {name} (the {installed.flavor} orchestrator has no schedules); "
                   f"output -> {installed.where}")
    else:
        click.echo(f"no crontab here: systemd units written to {installed.where}; enable them with\n  "
                   + "\n  ".join(installed.commands))
    return installed


@click.command()
@config_option
@click.option("--data", help="Report file or folder (overrides data.path).")
@click.option("--resume", is_flag=True, help="Continue from the newest complete checkpoint of an interrupted run of "
                                             "the same data and config (a half-written one is skipped); without it, "
                                             "start from step 0.")
@click.option("--out", help="Folder for the kept checkpoints (default: <home>/exports/train/<config name>); an "
                            "earlier train output there is replaced.")
@click.option("--overwrite", is_flag=True, help="Delete --out even when it holds anything else.")
def train(config, data, resume, out, overwrite):
    """The training stage alone, outside the pipeline: checkpoints to --out."""
    from radreport.paths import exports
    from radreport.recipe import instruction_records, resolve
    from radreport.training.checkpoints import clear_train_output

    settings = text_only(resolve(config, data), config, "train")
    from radreport.training.distributed import train as train_lora

    out = Path(out or exports() / "train" / Path(config).stem)
    clear_train_output(out, overwrite)
    checkpoints = train_lora(instruction_records(settings), settings.train.model_copy(update={"resume": resume}),
                             settings.format.task, out)
    summary = checkpoints.manifest["summary"]
    start = f"resumed from step {summary['resumed_from_step']}" if summary["resumed_from_step"] else "from step 0"
    click.echo(f"train ({summary['backend']}): {start} to step {summary['global_step']} in "
               f"{summary['train_seconds']} s, final train loss {summary['final_train_loss']:.3f}; best eval loss "
               f"at step {summary['best_eval_loss_step']}; checkpoints {checkpoints.steps} in {out}")
    return checkpoints


COMMANDS = [run, prefer, retrain, schedule, train]
