"""Logging for `picotask serve`: text lines (the development default) or JSON lines
(PICOTASK_LOG_FORMAT=json), uvicorn's own loggers through the same handler, and what a line
knows of its request (request id, user id, operation name) from context variables.

Nothing secret is logged (tests/test_logs.py greps a whole run for them): uvicorn's access
lines and httpx's request lines lose their query strings (an upload's token, a proof link's
signature, whatever a webhook URL carries), tortoise's
queries lose their values (a webhook's secret, a password hash, a session's token hash), and
the libraries that log request headers or query values at debug level (botocore, aiosqlite)
are kept at warnings.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("picotask_request_id", default=None)
USER_ID: ContextVar[int | None] = ContextVar("picotask_user_id", default=None)
OPERATION: ContextVar[str | None] = ContextVar("picotask_operation", default=None)

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Loggers of libraries that write credentials, signed headers or query values at debug level.
QUIET = ("botocore", "boto3", "s3transfer", "urllib3", "aiosqlite")


class RequestContext(logging.Filter):
    """Each record gets `request_id` (None outside a request), and `user_id` and `operation`
    where they are known and the line did not set them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        if (user := USER_ID.get()) is not None and not hasattr(record, "user_id"):
            record.user_id = user
        if (operation := OPERATION.get()) is not None and not hasattr(record, "operation"):
            record.operation = operation
        return True


class NoQueryStrings(logging.Filter):
    """A request line with the path only: a query string may carry a secret (the token of
    `PUT /uploads/<id>?token=...`, the signature of a proof link, a token in a webhook URL).
    `at` is where the URL is among the record's arguments (uvicorn's access line: 2; httpx's
    `HTTP Request: <method> <url> ...`: 1)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def filter(self, record: logging.LogRecord) -> bool:
        args, at = record.args, self.at
        if isinstance(args, tuple) and len(args) > at:
            record.args = (*args[:at], str(args[at]).partition("?")[0], *args[at + 1 :])
        return True


class NoQueryValues(logging.Filter):
    """tortoise's `<query>: <values>` debug lines with the values counted, not shown."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and record.msg == "%s: %s":
            values = args[1]
            count = len(values) if isinstance(values, list | tuple) else "?"
            record.args = (args[0], f"[{count} values]")
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def configure(log_format: str, level: str, stream: Any = None) -> logging.Handler:
    """One handler on the root logger for every logger, uvicorn's included (uvicorn is then
    run with `log_config=None`, so it configures nothing of its own). Returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT))
    install(handler)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler


def install(handler: logging.Handler) -> None:
    """The filters on a handler: the request's context, and the secrets out (every record that
    reaches the handler passes its filters, whichever logger it came from)."""
    handler.addFilter(RequestContext())
    handler.addFilter(
        _ByLogger(
            {
                "uvicorn.access": NoQueryStrings(at=2),
                "httpx": NoQueryStrings(at=1),
                "tortoise": NoQueryValues(),
            }
        )
    )


class _ByLogger(logging.Filter):
    """A filter for the records of some loggers (and their children) only."""

    def __init__(self, filters: dict[str, logging.Filter]) -> None:
        super().__init__()
        self.filters_by_name = filters

    def filter(self, record: logging.LogRecord) -> bool:
        for name, only in self.filters_by_name.items():
            if record.name == name or record.name.startswith(name + "."):
                only.filter(record)
        return True
