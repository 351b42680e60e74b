"""The command line as the README documents it: every command answers --help; --name defaults to the only model."""

import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from cli import main
from cli.shared import model_name
from radreport.errors import RadreportError

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[list[str]]:
    block = README.read_text().split("## Command line", 1)[1].split("```")[1]
    commands = []
    for line in block.splitlines():
        words = line.split()
        if words and words[0] == "run.py":
            command = [words[1]] + ([words[2]] if words[1] in ("human-eval", "data") else [])
            commands.append(command)
    return commands


def test_the_readme_lists_every_command():
    from cli import cli

    listed = {c[0] for c in readme_commands()}
    assert listed == set(cli.commands), listed ^ set(cli.commands)


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_every_readme_command_answers_help(command, capsys):
    assert main([*command, "--help"]) == 0
    assert re.search(r"Usage: run.py .*" + command[-1], capsys.readouterr().out)


def test_name_defaults_to_the_only_registered_model(tmp_path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", registry_uri=f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(RadreportError, match="no registered models yet"):
        model_name(client, None)
    client.create_registered_model("radreport-only")
    assert model_name(client, None) == "radreport-only"
    assert model_name(client, "another") == "another"
    client.create_registered_model("radreport-second")
    with pytest.raises(RadreportError, match=r"2 registered models \(radreport-only, radreport-second\): pass --name"):
        model_name(client, None)


def test_a_core_error_is_one_line_and_a_non_zero_exit(tmp_path):
    with pytest.raises(SystemExit, match=r"^data .*missing.jsonl: no such file or folder$"):
        main(["train", "--config", "configs/demo.yaml", "--data", str(tmp_path / "missing.jsonl"),
              "--out", str(tmp_path / "out")])


@pytest.mark.parametrize("name, version, message", [
    ("../../victim", "1", r"model name '\.\./\.\./victim' may not contain '/'"),
    ("..", "1", r"model name '\.\.' may not contain"),
    ("radreport-nothing", "1", r"radreport-nothing v1: no such registered version"),
    ("radreport-nothing", "1x", r"model version '1x' is not a version number"),
])
def test_serve_checks_the_name_and_version_before_touching_the_disk(name, version, message):
    """`serve --name ../../victim` once removed <home>/../../victim-v1 before any registry lookup."""
    from radreport.paths import home

    victim = home() / "serving" / f"{name}-v{version}"
    victim.mkdir(parents=True, exist_ok=True)
    (victim / "keep.txt").write_text("not radreport's")
    try:
        with pytest.raises(SystemExit, match=message):
            main(["serve", "--name", name, "--version", version])
        assert (victim / "keep.txt").read_text() == "not radreport's"
    finally:
        (victim / "keep.txt").unlink()


def test_a_folder_radreport_did_not_write_is_never_cleared(tmp_path):
    from radreport.serving.models import fetch_whole

    foreign = tmp_path / "radreport-test-v1"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(RadreportError, match="exists and was not written by radreport"):
        fetch_whole(None, "radreport-test", 1, foreign)
    assert (foreign / "keep.txt").exists()


def test_models_lists_every_model_when_a_name_holds_quotes(tmp_path):
    """A name with `'` once broke `run.py models` for every model (its filter string was built by an f-string)."""
    from radreport.registry.store import list_versions

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    names = ["plain", "it's", 'say "hi"', "both ' and \""]
    for name in names:
        client.create_registered_model(name)
        client.create_model_version(name, source=str(tmp_path))
    assert sorted(name for name, _ in list_versions(client)) == sorted(names)
