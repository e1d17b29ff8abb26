"""``serve``'s settings from the environment are checked as its flags are."""

from __future__ import annotations

import socket
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from packyard.cli.main import main
from packyard.settings import Settings, load_settings


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PACKYARD_LOG_LEVEL", "verbose",
     "PACKYARD_LOG_LEVEL must be one of critical, error, warning, info, debug, got "
     "'verbose'"),
    ("PACKYARD_LOG_LEVEL", "trace",  # uvicorn's, which logging does not know: a traceback
     "PACKYARD_LOG_LEVEL must be one of critical, error, warning, info, debug, got 'trace'"),
    ("PACKYARD_WORKERS", "0", "PACKYARD_WORKERS must be 1 to 64, got 0"),
    ("PACKYARD_WORKERS", "200", "PACKYARD_WORKERS must be 1 to 64, got 200"),
])
def test_regression_log_level_and_workers_from_the_environment_are_checked(
        variable: str, value: str, message: str) -> None:
    # The flags refused these; the variables let them through (0 workers took the
    # multi-process path, an unknown level was a traceback once logging was set up).
    with pytest.raises(ValueError) as caught:
        load_settings(environ={variable: value})
    assert str(caught.value) == message


def test_regression_serve_refuses_an_unknown_log_level_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(main, ["serve", "--port", "1", "--data-dir", str(data_dir)],
                                env={"PACKYARD_LOG_LEVEL": "verbose"})
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "PACKYARD_LOG_LEVEL must be one of critical, error, warning, info" in result.output
    assert "Traceback" not in result.output
    assert not data_dir.exists()


def test_the_levels_and_worker_counts_the_flags_take_are_accepted() -> None:
    for level in ("critical", "error", "warning", "info", "debug"):
        assert load_settings(environ={"PACKYARD_LOG_LEVEL": level}).log_level == level
    # As logging reads it: any case (uvicorn failed on "INFO").
    assert load_settings(environ={"PACKYARD_LOG_LEVEL": "INFO"}).log_level == "info"
    assert load_settings(environ={"PACKYARD_WORKERS": "64"}).workers == 64


def test_regression_the_log_level_flag_takes_any_case(tmp_path: Path) -> None:
    # README: --log-level, like PACKYARD_LOG_LEVEL, takes the level "in any case"; the flag
    # refused `--log-level INFO` with a usage error while the variable took it.
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--log-level", "INFO", "--port", str(port),
                                           "--data-dir", str(data_dir)])
    assert "Invalid value for '--log-level'" not in result.output
    # It got as far as the listening socket: the flag was taken.
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.output
    assert not data_dir.exists()


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PACKYARD_AUDIT_FSYNC", "ture",
     "PACKYARD_AUDIT_FSYNC must be true or false (or 1/yes/on, 0/no/off), got 'ture'"),
    ("PACKYARD_METRICS", "disabled",
     "PACKYARD_METRICS must be true or false (or 1/yes/on, 0/no/off), got 'disabled'"),
    ("PACKYARD_PORT", "abc", "PACKYARD_PORT must be a whole number, got 'abc'"),
    ("PACKYARD_MAX_UPLOAD_BYTES", "5GiB",
     "PACKYARD_MAX_UPLOAD_BYTES must be a whole number, got '5GiB'"),
    ("PACKYARD_DATA_KEY_CACHE_SECONDS", "5m",
     "PACKYARD_DATA_KEY_CACHE_SECONDS must be a number (of seconds), got '5m'"),
])
def test_regression_a_malformed_setting_is_refused_saying_what_it_must_be(
        variable: str, value: str, message: str) -> None:
    # A yes/no setting with a typo was taken as false without a word (PACKYARD_AUDIT_FSYNC=ture
    # turned fsync off), and a number that was none said Python's "invalid literal for int()
    # with base 10: 'abc'".
    with pytest.raises(ValueError) as caught:
        load_settings(environ={variable: value})
    assert str(caught.value) == message


def test_yes_no_settings_take_the_words_they_always_took() -> None:
    for word in ("true", "TRUE", "1", "yes", "on", " On "):
        assert load_settings(environ={"PACKYARD_AUDIT_DOWNLOADS": word}).audit_downloads is True
    for word in ("false", "False", "0", "no", "off"):
        assert load_settings(environ={"PACKYARD_METRICS": word}).metrics is False


def test_regression_serve_refuses_a_malformed_setting_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(data_dir)],
                                env={"PACKYARD_AUDIT_FSYNC": "ture"})
    assert result.exit_code == 2
    assert result.output == ("error: PACKYARD_AUDIT_FSYNC must be true or false (or 1/yes/on, "
                             "0/no/off), got 'ture'\n")
    assert not data_dir.exists()


def test_regression_serve_help_says_every_flag_has_its_variable() -> None:
    # The help listed some variables (PACKYARD_HOST, …) and not others (PACKYARD_LOG_LEVEL,
    # PACKYARD_WORKERS, PACKYARD_ACCESS_LOG), as if those flags had none.
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Every option can also be set as the environment variable named after it" in (
        " ".join(result.output.split()))
    names = {f.name for f in fields(Settings)}
    serve = main.commands["serve"]
    flags = [p.name for p in serve.params if p.name != "help"]
    assert "log_level" in flags and "access_log" in flags
    for flag in flags:
        assert flag in names, f"--{flag.replace('_', '-')} has no PACKYARD_{flag.upper()}"


def test_regression_a_choice_setting_takes_any_case_as_the_others_do() -> None:
    # PACKYARD_ENCRYPTION=ON (or PACKYARD_KEY_PROVIDER=KMS) was refused ("must be on or off,
    # got 'ON'") while the yes/no settings, --log-level and PACKYARD_AUDIT_LOG took any case.
    settings = load_settings(environ={"PACKYARD_ENCRYPTION": "OFF ", "PACKYARD_AUDIT_LOG": "OFF",
                                      "PACKYARD_KEY_PROVIDER": "Local"})
    assert (settings.encryption, settings.audit_log, settings.key_provider) == (
        "off", "off", "local")
    with pytest.raises(ValueError) as caught:
        load_settings(environ={"PACKYARD_ENCRYPTION": "maybe"})
    assert str(caught.value) == "PACKYARD_ENCRYPTION must be on or off, got 'maybe'"


def test_the_log_format_is_text_or_json_in_any_case() -> None:
    assert load_settings(environ={}).log_format == "text"
    for word, taken in (("json", "json"), ("JSON", "json"), (" Text ", "text")):
        assert load_settings(environ={"PACKYARD_LOG_FORMAT": word}).log_format == taken
    with pytest.raises(ValueError) as caught:
        load_settings(environ={"PACKYARD_LOG_FORMAT": "xml"})
    assert str(caught.value) == "PACKYARD_LOG_FORMAT must be text or json, got 'xml'"


def test_serve_refuses_an_unknown_log_format_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    flag = CliRunner().invoke(main, ["serve", "--log-format", "xml", "--data-dir", str(data_dir)])
    assert flag.exit_code == 2
    assert "Invalid value for '--log-format': 'xml' is not one of 'text', 'json'." in (
        flag.output)
    variable = CliRunner().invoke(main, ["serve", "--data-dir", str(data_dir)],
                                  env={"PACKYARD_LOG_FORMAT": "xml"})
    assert variable.exit_code == 2
    assert variable.output == "error: PACKYARD_LOG_FORMAT must be text or json, got 'xml'\n"
    assert not data_dir.exists()
