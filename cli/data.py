"""Data and workspace commands: ingest, score, data download, dashboard, stack."""

import json
import os
import time
from pathlib import Path

import click

from radreport.errors import RadreportError
from radreport.vocabulary import METRIC_GROUPS


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", default="auto", show_default=True,
              help="auto|iu-csv|openi-xml|mimic|text-dir|csv|json|jsonl|parquet")
@click.option("--config", help="Pipeline YAML whose data: section applies (column mapping, policies).")
@click.option("--out", required=True, help="Output folder.")
def ingest(paths, fmt, config, out):
    """Read reports into the schema: accepted (Parquet) and quarantine (CSV)."""
    from pydantic import ValidationError

    from radreport.config import load_config
    from radreport.ingest import fingerprint, ingest as read_reports
    from radreport.sheets import write_csv

    data = load_config(config).data
    try:
        data = data.model_validate({**data.model_dump(), "format": fmt})
    except ValidationError as err:
        raise RadreportError(f"ingest: --format: {err.errors()[0]['msg']}") from None
    result = read_reports(list(paths), data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.reports.to_parquet(out / "reports.parquet", index=False)
    write_csv(result.quarantine, out / "quarantine.csv")
    click.echo(" ".join(f"{k}={v}" for k, v in result.counts.items()) + f" fingerprint={fingerprint(result.reports)}")
    click.echo(f"wrote {out / 'reports.parquet'} and {out / 'quarantine.csv'}")
    return result


def read_texts(path: str) -> list[str]:
    lines = Path(path).read_text().splitlines()
    if path.endswith(".jsonl"):
        try:
            return [json.loads(line)["text"] for line in lines if line.strip()]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise RadreportError(f"{path}: every line must be a JSON object with a 'text' field ({err})") from None
    return lines


@click.command()
@click.option("--refs", required=True, help="References: plain text (one per line) or JSONL with 'text'.")
@click.option("--hyps", required=True, help="Hypotheses, same format and order.")
@click.option("--metrics", type=click.Choice(METRIC_GROUPS),
              help="Metric groups to compute: --metrics bleu rouge ... (default: all).")
@click.argument("more_metrics", nargs=-1, metavar="", type=click.Choice(METRIC_GROUPS))
@click.option("--green-url", help="OpenAI-compatible endpoint of a GREEN judge (adds GREEN).")
@click.option("--green-model", default="StanfordAIMI/GREEN-RadLlama2-7b", show_default=True,
              help="Model the judge serves.")
@click.option("--modality", default="chest_xray", show_default=True,
              help="The reports' modality: clinical figures apply to chest_xray only; ct, mri leave them out.")
def score(refs, hyps, metrics, more_metrics, green_url, green_model, modality):
    """Corpus metrics of hypotheses against references, as JSON."""
    from radreport.config import GreenJudgeConfig
    from radreport.metrics import MetricSuite
    from radreport.vocabulary import modality_name

    if more_metrics and not metrics:
        raise click.UsageError(f"unexpected argument {more_metrics[0]!r}")
    references, hypotheses = read_texts(refs), read_texts(hyps)
    if len(references) != len(hypotheses):
        raise RadreportError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    green = GreenJudgeConfig(base_url=green_url, model=green_model) if green_url else None
    if modality_name(modality) is None:
        raise click.BadParameter(f"unknown modality {modality!r}", param_hint="--modality")
    suite = MetricSuite([metrics, *more_metrics] if metrics else METRIC_GROUPS, green=green,
                        modalities=[modality_name(modality)])
    corpus, _ = suite.score(references, hypotheses)
    scores = {"pairs": len(references), **{k: round(v, 6) for k, v in corpus.items()}, "notes": suite.notes}
    click.echo(json.dumps(scores))
    return scores


@click.group()
def data():
    """Datasets."""


@data.command()
@click.argument("dataset", type=click.Choice(["iu-xray"]))
@click.option("--out", default="data/iu_xray_openi", show_default=True, help="Folder for the XML reports.")
@click.option("--url", help="Archive URL (default: Open-i's NLMCXR_reports.tgz).")
def download(dataset, out, url):
    """Download a public dataset (needs internet)."""
    import tarfile

    from radreport.ingest.openi import OPENI_REPORTS_URL, download_reports

    try:
        folder = download_reports(out, url or OPENI_REPORTS_URL)
    except (ValueError, OSError, tarfile.TarError) as err:
        raise RadreportError(f"data download: {err}") from None
    click.echo(f"{len(list(folder.glob('*.xml')))} OpenI XML reports in {folder}; train with: "
               f"python run.py run --data {folder}")
    return folder


@click.command()
@click.option("--mlflow-port", type=int, default=5000, show_default=True)
@click.option("--zenml-port", type=int, default=8237, show_default=True)
def dashboard(mlflow_port, zenml_port):
    """The MLflow UI and the ZenML dashboard on 127.0.0.1 for the embedded stores; Ctrl-C stops both. On a team
    stack the servers already serve their own UIs: this names them."""
    from ops.dashboard import mlflow_ui, running, zenml_dashboard
    from ops.env import CLIENT_CHOICE
    from ops.stack import bootstrap, mlflow_target
    from radreport.paths import home

    bootstrap()  # the server reads the client's store, so it must exist and be migrated first
    target = mlflow_target()
    if os.environ[CLIENT_CHOICE] != "embedded" or not target.tracking_uri.startswith("sqlite:"):
        from zenml.client import Client

        click.echo(f"a team stack: its servers serve the dashboards\nZenML   {Client().zen_store.url}\n"
                   f"MLflow  {target.shown}")
        return None
    servers = [mlflow_ui(mlflow_port), zenml_dashboard(zenml_port)]
    log_dir = home() / "logs"
    with running(servers, log_dir) as processes:
        for server in servers:
            click.echo(f"{server.name:16} {server.url}")
        click.echo(f"logs in {log_dir}; Ctrl-C stops both")
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(1)
        except KeyboardInterrupt:
            click.echo("stopping")
            return None
    dead = next(s for s, p in zip(servers, processes) if p.returncode is not None)
    raise RadreportError(f"{dead.name} stopped unexpectedly; see {log_dir}")


@click.command()
@click.option("--local", is_flag=True, help="Create (idempotently) and activate the embedded stack, whatever is active.")
def stack(local):
    """Show the active ZenML stack and the MLflow store every command uses (the embedded stack is created and
    activated only when the user has chosen none, or with --local)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    from ops.env import CLIENT_CHOICE
    from ops.stack import bootstrap, checked, mlflow_target, redacted
    from radreport.paths import home

    name = bootstrap(local=local)
    client = Client()
    components = client.active_stack_model.components
    orchestrator, artifacts = (components[kind][0] for kind in (StackComponentType.ORCHESTRATOR,
                                                                 StackComponentType.ARTIFACT_STORE))
    target = checked(mlflow_target())
    click.echo(f"ZenML client     {os.environ[CLIENT_CHOICE]}: {redacted(client.zen_store.url)}")
    click.echo(f"stack            {name}")
    click.echo(f"orchestrator     {orchestrator.name} ({orchestrator.flavor_name})")
    click.echo(f"artifact store   {artifacts.name} ({artifacts.flavor_name}): {artifacts.configuration.get('path', '?')}")
    click.echo(f"MLflow tracking  {redacted(target.tracking_uri)}  (from {target.source})")
    click.echo(f"MLflow registry  {redacted(target.registry_uri)}")
    click.echo(f"state directory  {home()}")
    return name


COMMANDS = [ingest, score, data, dashboard, stack]
