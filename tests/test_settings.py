"""Settings come from the environment (and a `.env` file); a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from picotask.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite://var/picotask.sqlite3"
    assert settings.broadcast_url == "memory://"
    assert (settings.host, settings.port, settings.env) == ("127.0.0.1", 8000, "development")
    assert settings.platform_fee_percent == 10
    assert (settings.min_reward_cents, settings.min_payout_cents) == (1, 500)
    assert settings.default_claim_timeout_seconds == 3_600
    assert settings.default_review_window_seconds == 72 * 3_600
    assert settings.revision_deadline_seconds == 24 * 3_600
    assert settings.dispute_window_seconds == 7 * 86_400


def test_reads_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PICOTASK_DATABASE_URL": "postgres://u:p@db:5432/pico",
            "PICOTASK_BROADCAST_URL": "redis://cache:6379/0",
            "PICOTASK_PORT": "9000",
            "PICOTASK_ENV": "production",
            "PICOTASK_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
            "PICOTASK_MIN_PAYOUT": "10.50",
            "PICOTASK_PLATFORM_FEE_PERCENT": "15",
            "PICOTASK_MIGRATE_ON_START": "false",
        }
    )
    assert settings.port == 9000
    assert settings.is_production
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.min_payout_cents == 1050
    assert settings.platform_fee_percent == 15
    assert settings.migrate_on_start is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PICOTASK_PORT", "eighty"),
        ("PICOTASK_PORT", "70000"),
        ("PICOTASK_ENV", "staging"),
        ("PICOTASK_DATABASE_URL", "mysql://x"),
        ("PICOTASK_BROADCAST_URL", "kafka://x"),
        ("PICOTASK_ALLOWED_ORIGINS", "app.example"),
        ("PICOTASK_MIN_PAYOUT", "5.001"),
        ("PICOTASK_PLATFORM_FEE_PERCENT", "101"),
        ("PICOTASK_MIGRATE_ON_START", "maybe"),
        ("PICOTASK_DEFAULT_CLAIM_TIMEOUT_SECONDS", "5"),
    ],
)
def test_invalid_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_serve_refuses_to_start_with_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "picotask.server.cli", "serve"],
        env={"PICOTASK_PORT": "eighty", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PICOTASK_PORT" in result.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        # A bound declared on the field.
        (
            {"PICOTASK_MAX_IMAGES_PER_ANSWER": "51"},
            "PICOTASK_MAX_IMAGES_PER_ANSWER: input should be less than or equal to 50, got '51'",
        ),
        # Not of the field's type.
        (
            {"PICOTASK_SESSION_TTL_SECONDS": "soon"},
            "PICOTASK_SESSION_TTL_SECONDS: input should be a valid integer, unable to parse "
            "string as an integer, got 'soon'",
        ),
        # A rule between two fields names both, with their values as the variables give them.
        (
            {"PICOTASK_MAX_QUERY_COST": "6000"},
            "PICOTASK_MAX_QUERY_COST: must be at most PICOTASK_COST_BUDGET (5000), got 6000",
        ),
        (
            {"PICOTASK_MIN_PAYOUT": "20000"},
            "PICOTASK_MIN_PAYOUT: must be at most PICOTASK_MAX_PAYOUT (10000.00), got 20000.00",
        ),
        # Every bad variable at once, not the first alone.
        (
            {"PICOTASK_PORT": "70000", "PICOTASK_ENV": "staging"},
            "PICOTASK_PORT: input should be less than or equal to 65535, got '70000'; "
            "PICOTASK_ENV: input should be 'development' or 'production', got 'staging'",
        ),
    ],
)
def test_the_message_says_what_is_allowed_and_what_was_given(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(variables)
    assert str(refused.value) == message


def test_values_given_in_code_are_checked_too() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        Settings(port=70_000)
    with pytest.raises(ValidationError, match="PICOTASK_DEFAULT_REVIEW_WINDOW_SECONDS"):
        Settings(default_review_window_seconds=10)


def test_secrets_are_never_shown() -> None:
    settings = Settings(signing_secret="sign-3f9a", s3_secret_access_key="key-77c1")
    assert settings.signing_secret == "sign-3f9a"
    for shown in (repr(settings), str(settings)):
        assert "sign-3f9a" not in shown
        assert "key-77c1" not in shown
    # Not a string: refused, and the value is not repeated, neither by us nor by pydantic.
    wrong: dict[str, Any] = {"signing_secret": 739_182_645}
    with pytest.raises(SettingsError, match="PICOTASK_SIGNING_SECRET") as refused:
        Settings.from_env({}, **wrong)
    assert "739182645" not in str(refused.value)
    with pytest.raises(ValidationError) as invalid:
        Settings(**wrong)
    assert "739182645" not in str(invalid.value)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        *[("1", True), (" Yes ", True), ("ON", True), ("true", True)],
        *[("0", False), ("no", False), ("Off ", False), ("FALSE", False)],
    ],
)
def test_flags_read_as_before(raw: str, value: bool) -> None:
    assert (
        Settings.from_env({"PICOTASK_WEBHOOK_ALLOW_LOOPBACK": raw}).webhook_allow_loopback is value
    )


@pytest.mark.parametrize("raw", ["t", "y", "", "maybe"])
def test_other_flags_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="PICOTASK_WEBHOOK_ALLOW_LOOPBACK: expected true or"):
        Settings.from_env({"PICOTASK_WEBHOOK_ALLOW_LOOPBACK": raw})


@pytest.fixture
def in_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process in `tmp_path`, with no `PICOTASK_ENV_FILE` (conftest.py sets it empty)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PICOTASK_ENV_FILE", raising=False)
    for name in ("PICOTASK_PORT", "PICOTASK_ENV", "PICOTASK_MIN_PAYOUT", "PICOTASK_WEB_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


DOTENV = """\
# Shared with other programs: their variables, and names that are no setting, are left alone.
POSTGRES_PASSWORD=elsewhere
PICOTASK_NOT_A_SETTING=1
export PICOTASK_ENV="production"  # the environment's own syntax
PICOTASK_PORT=9000
PICOTASK_MIN_PAYOUT=7.25
PICOTASK_WEB_DIR=
"""


def test_the_process_reads_dot_env_in_its_directory(
    in_a_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_a_directory / ".env").write_text(DOTENV, encoding="utf-8")
    monkeypatch.setenv("PICOTASK_PORT", "9100")  # the environment wins over the file
    settings = Settings.from_env(migrate_on_start=False)  # and values in code over both
    assert (settings.env, settings.port, settings.min_payout_cents) == ("production", 9100, 725)
    assert (settings.web_dir, settings.migrate_on_start) == ("", False)


def test_a_named_file_instead(in_a_directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_a_directory / ".env").write_text("PICOTASK_PORT=9000\n", encoding="utf-8")
    named = in_a_directory / "picotask.env"
    named.write_text("PICOTASK_PORT=9200\n", encoding="utf-8")
    monkeypatch.setenv("PICOTASK_ENV_FILE", str(named))
    assert Settings.from_env().port == 9200
    # Empty: no file at all.
    monkeypatch.setenv("PICOTASK_ENV_FILE", "")
    assert Settings.from_env().port == 8000
    # A mapping given is the whole environment: `.env` only when it names it.
    assert Settings.from_env({}).port == 8000
    assert Settings.from_env({"PICOTASK_ENV_FILE": ".env"}).port == 9000


def test_a_bad_file_names_its_variable(in_a_directory: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"PICOTASK_ENV_FILE": "missing.env"})
    assert str(refused.value) == "PICOTASK_ENV_FILE: no such file, got 'missing.env'"
    (in_a_directory / ".env").write_text("PICOTASK_MIN_PAYOUT=5.001\n", encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == (
        "PICOTASK_MIN_PAYOUT: expected a non-negative amount with at most two decimals, got '5.001'"
    )


def test_serve_reads_dot_env_and_refuses_a_bad_value(in_a_directory: Path) -> None:
    (in_a_directory / ".env").write_text("PICOTASK_GC_THRESHOLD=50\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "picotask.server.cli", "serve"],
        env={"PATH": ""},
        cwd=in_a_directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PICOTASK_GC_THRESHOLD: must be 0 (Python's default) or 100..10000000" in result.stderr
