"""Serving commands: generate, serve."""

import json
from pathlib import Path

import click

from cli.shared import name_option, resolved, version_option
from radreport.errors import RadreportError


@click.command()
@name_option()
@version_option
@click.option("--findings", help="One findings text (text models).")
@click.option("--images", help="One study's image files, frontal first: --images FRONTAL [LATERAL] (image models).")
@click.argument("more_images", nargs=-1, metavar="")
@click.option("--input", "input_path", help="JSONL with a 'findings' text (or, for image models, an 'images' list) "
                                            "per line.")
@click.option("--output", help="JSONL to write (with --input): each input row plus 'generated'.")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-new-tokens", type=int, default=96, show_default=True)
def generate(name, version, findings, images, more_images, input_path, output, batch_size, max_new_tokens):
    """Write impressions (or, for an image model, reports) with a registered version (default: the champion)."""
    from radreport.modality import of_tags
    from radreport.serving.models import RegisteredModel, read_inputs

    if more_images and not images:
        raise click.UsageError(f"unexpected argument {more_images[0]!r}")
    images = [images, *more_images] if images else None
    if sum(x is not None for x in (findings, images, input_path)) != 1:
        raise click.UsageError("give exactly one of --findings, --images and --input")
    if input_path and not output:
        raise RadreportError("generate --input needs --output")
    registry, name, version = resolved(name, version)
    modality = of_tags(registry.get_model_version(name, str(version)).tags)
    given = "images" if images else "findings" if findings is not None else None
    if given and given != modality.input_field:
        raise RadreportError(f"{name} v{version} writes {modality.writes} from {modality.input_field}: give "
                             f"--{modality.input_field} or --input")
    rows = read_inputs(Path(input_path), modality) if input_path else \
        [{"images": images} if images else {"findings": findings}]
    if images and (problem := modality.row_problem(rows[0])):
        raise RadreportError(f"--images: {problem}")
    texts = RegisteredModel(registry, name, version).generate([modality.input_of(r) for r in rows], batch_size,
                                                              max_new_tokens)
    if not input_path:
        click.echo(texts[0])
        return texts
    with open(output, "w") as out:
        for row, text in zip(rows, texts):
            out.write(json.dumps({**row, "generated": text, "model": f"{name}/v{version}"}) + "\n")
    click.echo(f"{len(rows)} {modality.writes} by {name} v{version} -> {output}")
    return texts


@click.command()
@name_option()
@version_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback only by default).")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--max-batch", type=int, default=32, show_default=True, help="Most findings texts in one request.")
@click.option("--max-chars", type=int, default=4000, show_default=True, help="Longest findings text accepted.")
@click.option("--max-body-mb", type=int, default=16, show_default=True, help="Largest request body for an image model.")
@click.option("--max-queue", type=int, default=8, show_default=True,
              help="Generation requests waiting or running; past it, 503 with Retry-After.")
@click.option("--timeout-s", type=float, default=300.0, show_default=True,
              help="A request's wait plus generation before 504.")
@click.option("--body-timeout-s", type=float, default=30.0, show_default=True,
              help="Time for a request's whole body to arrive before 408.")
def serve(name, version, host, port, max_batch, max_chars, max_body_mb, max_queue, timeout_s, body_timeout_s):
    """An HTTP endpoint for the champion (or --version N): /v1/generate and the OpenAI API for text models,
    /v1/report for image models."""
    import uvicorn

    from radreport.serving.app import Limits, create_app
    from radreport.serving.models import RegisteredModel, served_ids

    registry, name, version = resolved(name, version)
    model = RegisteredModel(registry, name, version)
    limits = Limits(max_batch=max_batch, max_chars=max_chars,
                    max_body_bytes=max_body_mb * 2**20 if model.modality.takes_images else Limits.max_body_bytes,
                    max_images=model.checkpoints.manifest.get("max_images", 2), max_queue=max_queue,
                    timeout_s=timeout_s, body_timeout_s=body_timeout_s)
    model_ids = served_ids(registry, name, version)
    app = create_app(model, {"model": name, "version": version, "task": model.task}, limits, model_ids)
    routes = "POST /v1/report" if model.modality.takes_images else \
        f"POST /v1/generate; OpenAI-compatible /v1/chat/completions, /v1/completions as {', '.join(model_ids())}"
    click.echo(f"serving {name} v{version} at http://{host}:{port} ({routes}; GET /health)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = [generate, serve]
