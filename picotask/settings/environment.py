"""Where the variables come from (the environment over an optional `.env` file), and what a bad
one says: `PICOTASK_<VARIABLE>: what is allowed, got what was given`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
)

PREFIX = "PICOTASK_"
# Names the `.env` file to read (empty: none); read from the environment only.
ENV_FILE = "PICOTASK_ENV_FILE"

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """A setting is malformed; the message names the variable."""


def env_name(field_name: str) -> str:
    """`min_payout_cents` is set as `PICOTASK_MIN_PAYOUT=5.00`: money is a decimal outside."""
    return PREFIX + field_name.removesuffix("_cents").upper()


class Variables(PydanticBaseSettingsSource):
    """The fields' variables in one mapping (an environment, or a `.env` file's lines), by the
    exact names `env_name` gives: other names, and other cases, are not settings."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]):
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.variables.get(env_name(field_name)), field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                found[key] = value
        return found


def read(settings_cls: type[S], environ: Mapping[str, str] | None, overrides: dict[str, Any]) -> S:
    """`overrides` (by field name) over `environ` (default: this process's environment) over the
    file it names in `PICOTASK_ENV_FILE`. Unset there, this process reads `.env` in its
    working directory when there is one; a mapping given reads no file it does not name."""
    variables = os.environ if environ is None else environ
    named = variables.get(ENV_FILE)
    if named and not Path(named).is_file():
        raise SettingsError(f"{ENV_FILE}: no such file, got {named!r}")
    path = named if named is not None else ".env" if environ is None else ""
    # pydantic-settings reads the file (python-dotenv's format); `Variables` picks the names.
    lines = DotEnvSettingsSource(settings_cls, env_file=path or None, case_sensitive=True)
    sources = (
        InitSettingsSource(settings_cls, init_kwargs=overrides),
        Variables(settings_cls, variables),
        Variables(settings_cls, lines.env_vars),
    )
    try:
        return settings_cls(_build_sources=(sources, overrides))
    except ValidationError as exc:
        fields = settings_cls.model_fields
        raise SettingsError("; ".join(_describe(fields, e) for e in exc.errors())) from None


def _describe(fields: dict[str, FieldInfo], error: ErrorDetails) -> str:
    if not error["loc"]:  # a rule between fields (`Settings`) names its variables itself
        return error["msg"]
    field = str(error["loc"][0])
    if error["type"] == "value_error":  # ours (values.py), without pydantic's "Value error, "
        message = str(error["ctx"]["error"])
    else:
        message = error["msg"][:1].lower() + error["msg"][1:]
    shown = field in fields and fields[field].repr  # secrets are not
    return f"{env_name(field)}: {message}" + (f", got {error['input']!r}" if shown else "")
