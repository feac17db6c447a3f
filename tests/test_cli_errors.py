"""CLI errors a user can fix end in one line on stderr (what is wrong, what to do) and the
error's exit code, never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy.exc import OperationalError

import ui.cli.generate as cli_generate
from gen.serving.scheduler import QueueFull
from shop.errors import InvalidInput
from ui import context as ui_context
from ui.cli import main


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPWRIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(ui_context, "_DEFAULT", None)


def run(capsys, *args: str) -> tuple[int, str]:
    """(exit code, stderr) of `shopwright <args>` run in this process."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return exited.value.code, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: ")
    return err.removeprefix("error: ").strip()


def test_a_wrong_option_value_names_the_option_and_the_valid_values(capsys):
    code, err = run(capsys, "copy", "--product", "X", "--channel", "email")
    assert code == InvalidInput.exit_code == 2
    assert one_line(err) == ("--channel: Input should be 'search', 'social', 'sms' or 'display' "
                             "(got 'email'); see `shopwright copy --help`")


def test_every_invalid_option_is_named_in_the_same_line(capsys):
    code, err = run(capsys, "copy", "--product", "", "--variants", "50")
    message = one_line(err)
    assert code == 2
    assert "--product: String should have at least 1 character (got '')" in message
    assert "--variants: Input should be less than or equal to 10 (got 50)" in message


def test_a_bad_setting_names_its_environment_variable(capsys, monkeypatch):
    monkeypatch.setenv("SHOPWRIGHT_RATE_LIMIT_CHAT", "lots")
    code, err = run(capsys, "copy", "--product", "X")
    assert code == 2
    message = one_line(err)
    assert message.startswith("SHOPWRIGHT_RATE_LIMIT_CHAT: ") and "'30/minute'" in message
    assert message.endswith("set it in the environment or the config file")


def test_an_unknown_id_is_its_own_exit_code(capsys):
    code, err = run(capsys, "copy", "--product", "NOPE")
    assert code == 3 and one_line(err) == "unknown product id(s): NOPE"


class Generation:
    """Stands in for the generation service: every copy request fails with `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def copy(self, _options):
        raise self.error


class Context:
    def __init__(self, error: Exception):
        self.generation = Generation(error)


def test_a_busy_model_says_to_retry(capsys, monkeypatch):
    busy = QueueFull("the model is busy: 64 requests are waiting; retry in 3 s", retry_after=3)
    monkeypatch.setattr(cli_generate, "default_context", lambda: Context(busy))
    code, err = run(capsys, "copy", "--product", "P1")
    assert code == 6 and one_line(err) == "the model is busy: 64 requests are waiting; retry in 3 s"


def test_a_locked_store_says_to_retry(capsys, monkeypatch):
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    monkeypatch.setattr(cli_generate, "default_context", lambda: Context(locked))
    code, err = run(capsys, "copy", "--product", "P1")
    assert code == 6
    assert one_line(err) == "the store is busy (another writer holds a lock); retry in 2 s"


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(cli_generate, "default_context", lambda: Context(KeyError("oops")))
    with pytest.raises(KeyError):
        main(["copy", "--product", "P1"])


def test_the_installed_command_prints_one_line_and_exits_2(tmp_path):
    command = [sys.executable, "-m", "ui.cli", "copy", "--product", "X", "--channel", "email"]
    env = {"SHOPWRIGHT_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin",
           "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --channel: Input should be 'search'")
    assert result.stdout == ""
