"""Settings come from the environment; a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
