"""Registry commands: models, promote, rollback, export, lineage, human-eval, evaluate."""

import json
import tempfile
import time
from pathlib import Path

import click

from cli.pipeline import text_only
from cli.shared import client, config_option, data_option, model_name, name_option, resolved, version_option
from radreport.errors import RadreportError


@click.command()
@click.option("--name", help="Only this registered model.")
def models(name):
    """Registered versions, aliases, scores and decisions."""
    from radreport.registry.store import list_versions
    from radreport.registry.tags import decision_of, human_eval_of, metrics_of

    rows = list_versions(client(), name)
    if not rows:
        click.echo("no registered models yet: run `python run.py run` first")
        return rows
    click.echo(f"{'model':45} {'ver':>3}  {'aliases':18} {'rougeL':>7} {'bleu4':>6} {'BERTScr':>7} {'rating':>6}  "
               "decision")
    for model, v in rows:
        scores, decided = metrics_of(v.tags), decision_of(v.tags)
        score = lambda key: scores.get(key, float("nan"))  # noqa: E731
        click.echo(f"{model:45} {v.version:>3}  {','.join(v.aliases) or '-':18} {score('rougeL'):7.4f} "
                   f"{score('bleu4'):6.2f} {score('bertscore_f1'):7.4f} "
                   f"{human_eval_of(v.tags).get('mean_model_rating', '-'):>6}  "
                   f"{decided.get('decision', '-')}: {decided.get('reason', '')}")
    return rows


@click.command()
@click.argument("version", type=int)
@name_option()
@click.option("--config", default="configs/demo.yaml", show_default=True,
              help="Pipeline YAML whose promotion: policy applies.")
@click.option("--force", is_flag=True, help="Make it champion whatever the gate says (needs --reason).")
@click.option("--reason", default="", help="Why, recorded with the decision.")
def promote(version, name, config, force, reason):
    """Run the promotion gate for one registered version (or override it)."""
    from ops.lineage import mirror_stage
    from radreport.config import load_config
    from radreport.registry.audit import actor
    from radreport.registry.gate import gate_version

    if force and not reason.strip():
        raise RadreportError('promote --force needs --reason "...": an override is only accepted with its reason '
                             "on record")
    policy = load_config(config).promotion
    registry = client()
    name = model_name(registry, name)
    entry = gate_version(registry, name, version, policy, actor(), force_reason=reason if force else None)
    stage = mirror_stage(registry, name, version, entry["result"])
    click.echo(f"{name} v{version}: {entry['action']} -> {entry['result']} ({entry['reason']})"
               + (f"; ZenML model stage {stage}" if stage else ""))
    return entry


@click.command()
@name_option()
@click.option("--reason", default="manual rollback", show_default=True, help="Why, recorded with the decision.")
def rollback(name, reason):
    """Move champion back to the previous champion."""
    from ops.lineage import mirror_stage
    from radreport.registry.audit import actor
    from radreport.registry.rollback import rollback as roll_back

    registry = client()
    name = model_name(registry, name)
    entry = roll_back(registry, name, actor(), reason)
    mirror_stage(registry, name, entry["version"], "champion")
    mirror_stage(registry, name, entry["champion_version"], "challenger")
    click.echo(f"{name}: champion is v{entry['version']} again ({entry['reason']})")
    return entry


@click.command()
@name_option()
@version_option
@click.option("--out", required=True, help="Folder to write (must not exist).")
@click.option("--merged", is_flag=True, help="Merge the adapter into the base model's 16-bit weights.")
@click.option("--base", help="16-bit copy of the base model, when it was trained from a 4-bit checkpoint.")
@click.option("--dtype", default="bfloat16", show_default=True, type=click.Choice(["bfloat16", "float16", "float32"]))
def export(name, version, out, merged, base, dtype):
    """A registered version's adapter, or (--merged) a standalone 16-bit model."""
    from radreport.registry.store import download_checkpoint
    from radreport.training.export import export_adapter, export_merged

    out = Path(out)
    if out.exists():
        raise RadreportError(f"export --out {out}: already exists; choose a new folder")
    registry, name, version = resolved(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = download_checkpoint(registry, name, version, Path(tmp) / "checkpoint")
        step = checkpoints.steps[-1]
        if merged:
            export_merged(checkpoints, step, out, base, dtype)
        else:
            export_adapter(checkpoints, step, out)
    click.echo(f"{name} v{version} (step {step}): {f'merged {dtype} model' if merged else 'adapter'} -> {out}")
    return out


@click.command()
@name_option()
@version_option
def lineage(name, version):
    """The chain from a registered version back to its data."""
    from ops.lineage import version_lineage

    registry, name, version = resolved(name, version)
    chain = version_lineage(registry, name, version)
    train = dict(chain["training"])
    click.echo(f"{name} v{version}  aliases: {', '.join(chain['aliases']) or '-'}  source: {chain['source']}\n"
               f"  MLflow run {chain['mlflow_run']} (experiment {chain['experiment']}), git {chain['git_commit']}\n"
               f"  data: {chain['data_path']}  fingerprint {chain['data_fingerprint']}  "
               + " ".join(f"{k}={v}" for k, v in chain["ingest"].items()) + "\n"
               f"  structuring: {chain['structuring']['backend']} (prompt {chain['structuring']['prompt_version']})\n"
               f"  training: base {train.pop('base_model')}, task {train.pop('task')}, step {train.pop('step')}, "
               f"backend {train.pop('backend')}; " + ", ".join(f"{k}={v}" for k, v in train.items()) + "\n"
               "  evaluation: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(chain["evaluation"].items())) + "\n"
               f"  human evaluation: {chain['human_eval'] or 'none imported'}")
    if chain["zenml_run"]:
        run = chain["zenml_run"]
        click.echo(f"  ZenML run {run['name']} ({run['id']}), model version {run['model_version']}: "
                   + ", ".join(f"{n}:{s}" for n, s in run["steps"].items()))
    for entry in chain["decisions"]:
        click.echo(f"  decision {entry['time']} {entry['action']} -> {entry['result']} by {entry['by']}: "
                   f"{entry['reason']}")
    return chain


@click.group("human-eval")
def human_eval():
    """Radiologists' ratings."""


@human_eval.command("import")
@click.argument("ratings", nargs=-1, required=True)
@name_option()
@click.option("--version", help="Version that was rated (default: the champion).")
@click.option("--key", help="Unblinding key CSV (default: the one in the version's MLflow run).")
def import_ratings(ratings, name, version, key):
    """Validate, unblind and summarise rating CSVs (from the form or the sheet) for a version."""
    from radreport.human_eval.ratings import RatingsError
    from radreport.registry.ratings import import_ratings as import_csvs

    registry, name, version = resolved(name, version)
    try:
        stats = import_csvs(registry, name, version, list(ratings), key)
    except RatingsError as err:
        raise RadreportError(f"nothing imported:\n{err}") from None
    low, high = stats["mean_model_rating_ci"]
    click.echo(f"{name} v{version}: {stats['ratings']} ratings by {stats['raters']} raters on {stats['cases']} "
               f"cases\n  model preferred in {stats['model_preference_rate']:.1%}\n"
               f"  mean rating: model {stats['mean_model_rating']:.2f} (95% CI {low:.2f}-{high:.2f}), "
               f"radiologist {stats['mean_radiologist_rating']:.2f}\n"
               f"  Krippendorff's alpha (interval): {stats['krippendorff_alpha_interval']:.3f}")
    for rater in stats["per_rater"]:
        click.echo(f"  rater {rater['rater_id']}: {rater['cases']} cases, model {rater['model_mean']:.2f}, "
                   f"radiologist {rater['radiologist_mean']:.2f}, model preferred {rater['model_preferred']:.0%}")
    return stats


@click.command()
@name_option()
@version_option
@config_option
@data_option
@click.option("--split", default="test", show_default=True, type=click.Choice(["validation", "test"]))
@click.option("--max-examples", type=int, default=100_000, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: corpus scores keyed by system (model, each baseline, base).")
def evaluate(name, version, config, data, split, max_examples, as_json):
    """Score a registered version beside the untuned base model and every baseline."""
    from radreport.evaluation.registered import evaluate_version
    from radreport.evaluation.systems import system_of_step
    from radreport.recipe import resolve

    started = time.perf_counter()
    settings = text_only(resolve(config, data), config, "evaluate")
    registry, name, version = resolved(name, version)
    result = evaluate_version(registry, name, version, settings, split, max_examples)
    if as_json:
        click.echo(json.dumps(result.by_system))
        return result
    scores = result.scores.rename(index={system_of_step(result.best_step): f"{name} v{version}"})
    click.echo(f"{split} split, {len(result.examples)} examples, {time.perf_counter() - started:.0f} s\n"
               f"{scores.round(4).to_string()}\n" + "\n".join(result.notes))
    return result


COMMANDS = [models, promote, rollback, export, lineage, human_eval, evaluate]
