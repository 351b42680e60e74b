"""What several command families share: the registry client, a model name defaulting to the only one registered,
and config/data options."""

import click

from radreport.errors import RadreportError

config_option = click.option("--config", default="configs/demo.yaml", show_default=True, help="Pipeline YAML.")
data_option = click.option("--data", help="Reports (overrides data.path); default: the synthetic sample.")
version_option = click.option("--version", help="Version number (default: the champion).")


def name_option(help_text: str = "Registered model name (default: the only one registered).", required=False):
    return click.option("--name", required=required, help=help_text)


def client():
    from ops.stack import registry_client

    return registry_client()


def model_name(registry, name: str | None) -> str:
    """`name`, or the only registered model's when none is given."""
    from radreport.registry.store import registered_models

    if name:
        return name
    names = [m.name for m in registered_models(registry)]
    if len(names) != 1:
        raise RadreportError("no registered models yet: run `python run.py run` first" if not names else
                             f"{len(names)} registered models ({', '.join(sorted(names))}): pass --name")
    return names[0]


def resolved(name: str | None, version: str | None):
    """(client, model name, version number): the champion when no version is given."""
    from radreport.registry.store import resolve_version

    registry = client()
    name = model_name(registry, name)
    return registry, name, resolve_version(registry, name, version)
