"""radreport's command line: one click group, a module per command family. Commands call core functions that return
values and print only here; a core error (RadreportError) becomes one message and exit status 1."""

import click

from cli import data, pipeline, registry, serving
from ops.console import quiet
from ops.env import configure
from radreport.errors import RadreportError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--home", help="State directory (default: $RADREPORT_HOME or ./.radreport).")
@click.option("--verbose", is_flag=True, help="Show every library's progress bars, warnings and log lines.")
def cli(home, verbose):
    """Fine-tune, evaluate, gate and serve radiology-report models (ZenML + MLflow)."""
    configure(home)
    if not verbose:
        quiet()


for family in (pipeline, registry, serving, data):
    for command in family.COMMANDS:
        cli.add_command(command)


def main(argv=None):
    """run.py's and the `radreport` script's entry point; returns the command's value (what tests assert on)."""
    try:
        return cli.main(args=argv, prog_name="run.py", standalone_mode=False)
    except RadreportError as err:
        raise SystemExit(str(err)) from None
    except click.ClickException as err:
        err.show()
        raise SystemExit(err.exit_code) from None
    except click.Abort:
        raise SystemExit(1) from None
