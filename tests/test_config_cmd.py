"""``aidetect config``: the data root kept in the aidetect home, and the --data › $AIDETECT_DATA › file order."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from aidetect.errors import AidetectError
from aidetect.home import (
    NO_DATA_ROOT,
    _parse_toml_subset,
    aidetect_home,
    read_user_config,
    resolve_data_root,
    user_config_path,
    write_user_config,
)
from aidetect.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("AIDETECT_DATA", raising=False)


def _without_tomllib(monkeypatch):
    """As on Python 3.10: ``import tomllib`` fails, so the fallback parser reads the file."""
    monkeypatch.setitem(sys.modules, "tomllib", None)


def test_config_data_stores_an_absolute_root_as_toml_and_show_says_where_it_came_from(tmp_path, monkeypatch):
    (tmp_path / "GenImage").mkdir()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["config", "data", "GenImage"])
    assert result.exit_code == 0, result.output
    path = user_config_path()
    assert path.parent == aidetect_home() and path.name == "config.toml"
    assert f"data root {tmp_path / 'GenImage'} saved in {path}" in result.stdout
    if sys.version_info >= (3, 11):
        import tomllib

        assert tomllib.loads(path.read_text())["data"] == str(tmp_path / "GenImage")
    assert _parse_toml_subset(path.read_text()) == {"data": str(tmp_path / "GenImage")}
    assert not list(path.parent.glob(".config.toml.*.tmp"))  # written atomically: no temporary left

    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    assert f"data           {tmp_path / 'GenImage'}  (from config file)" in shown.stdout
    doc = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert doc["file"] == str(path) and doc["file_exists"] is True
    assert doc["values"]["data"] == {"value": str(tmp_path / "GenImage"), "source": "config file", "env": None,
                                     "file": str(tmp_path / "GenImage")}
    printed = runner.invoke(app, ["config", "data"])
    assert printed.exit_code == 0 and printed.stdout.strip() == str(tmp_path / "GenImage")

    # The environment comes before the file; show names both.
    monkeypatch.setenv("AIDETECT_DATA", str(tmp_path))
    doc = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert doc["values"]["data"]["value"] == str(tmp_path) and doc["values"]["data"]["source"] == "$AIDETECT_DATA"
    assert doc["values"]["data"]["file"] == str(tmp_path / "GenImage")
    text = runner.invoke(app, ["config", "show"]).stdout
    assert f"(from $AIDETECT_DATA, which comes before the config file's {tmp_path / 'GenImage'})" in text
    monkeypatch.delenv("AIDETECT_DATA")

    unset = runner.invoke(app, ["config", "data", "--unset"])
    assert unset.exit_code == 0 and f"data root unset (was {tmp_path / 'GenImage'})" in unset.stdout
    assert read_user_config() == {}
    doc = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert doc["values"]["data"]["value"] is None and doc["values"]["data"]["source"] is None
    assert "no data root was set" in runner.invoke(app, ["config", "data", "--unset"]).stdout


def test_config_data_refuses_a_missing_root_or_a_file_in_one_line(tmp_path):
    missing = runner.invoke(app, ["config", "data", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert missing.output.strip() == f"error: {tmp_path / 'nope'} does not exist; give the folder that holds your images"
    (tmp_path / "f.txt").write_text("x")
    afile = runner.invoke(app, ["config", "data", str(tmp_path / "f.txt")])
    assert afile.exit_code == 2 and "is a file, not a folder" in afile.output and len(afile.output.strip().splitlines()) == 1
    both = runner.invoke(app, ["config", "data", str(tmp_path), "--unset"])
    assert both.exit_code == 2 and "not both" in both.output
    assert not user_config_path().exists()


def test_config_data_names_the_layout_it_finds(tmp_path):
    from helpers import make_genimage_tree

    root = make_genimage_tree(tmp_path / "g", n_train=1, n_val=1, generators=["adm", "wukong"])
    result = runner.invoke(app, ["config", "data", str(root)])
    assert result.exit_code == 0
    assert "genimage layout: adm, real, wukong" in result.output


@pytest.mark.parametrize("fallback", [False, True], ids=["tomllib-or-fallback", "fallback"])
def test_awkward_paths_round_trip(tmp_path, monkeypatch, fallback):
    if fallback:
        _without_tomllib(monkeypatch)
    value = 'C:\\data\\"quoted" dir/ünïcode\ttab\x01'
    path = write_user_config({"data": value})
    assert read_user_config(path) == {"data": value}


def test_the_fallback_parser_reads_comments_literal_strings_and_rejects_the_rest(monkeypatch):
    assert _parse_toml_subset('# c\n\ndata = "/a" # note\n"other" = \'C:\\x\'\n') == {"data": "/a", "other": "C:\\x"}
    for bad in ("data = /a", "[table]", 'data = "/a', 'data = "/a" x', 'data = "a"\ndata = "b"', 'data = "\\q"'):
        with pytest.raises(ValueError):
            _parse_toml_subset(bad)


@pytest.mark.parametrize("fallback", [False, True], ids=["tomllib-or-fallback", "fallback"])
def test_a_damaged_settings_file_is_one_error(tmp_path, monkeypatch, fallback):
    if fallback:
        _without_tomllib(monkeypatch)
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("data = /not/quoted\n")
    with pytest.raises(AidetectError, match="not a settings file aidetect can read"):
        read_user_config()
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2 and str(path) in result.output


def test_the_data_root_comes_from_the_flag_then_the_environment_then_the_file(tmp_path, monkeypatch):
    stored, env, flag = tmp_path / "stored", tmp_path / "env", tmp_path / "flag"
    stored.mkdir(), env.mkdir()
    with pytest.raises(AidetectError, match="no data root"):
        resolve_data_root(None)
    write_user_config({"data": str(stored)})
    assert resolve_data_root(None).root == stored and resolve_data_root(None).source == "config"
    monkeypatch.setenv("AIDETECT_DATA", str(env))
    assert resolve_data_root(None).root == env and resolve_data_root(None).source == "$AIDETECT_DATA"
    assert resolve_data_root(flag).root == flag and resolve_data_root(flag).source == "--data"
    monkeypatch.setenv("AIDETECT_DATA", str(tmp_path / "gone"))
    with pytest.raises(AidetectError, match=r"\(from \$AIDETECT_DATA\) does not exist"):
        resolve_data_root(None)
    monkeypatch.delenv("AIDETECT_DATA")
    stored.rmdir()
    with pytest.raises(AidetectError, match="from the config file .* does not exist; run `aidetect config data ROOT`"):
        resolve_data_root(None)


@pytest.mark.parametrize("command", [["train", "--setting", "es1"], ["evaluate", "--out", "e"], ["sweep", "--out", "s"]])
def test_without_a_data_root_the_commands_name_the_three_ways_to_give_one(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {NO_DATA_ROOT}"
    for way in ("--data ROOT", "$AIDETECT_DATA", "aidetect config data ROOT"):
        assert way in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written
