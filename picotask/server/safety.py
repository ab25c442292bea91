"""Execution safety: error masking with request ids, and the limits a public API needs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from picotask.settings import Settings

log = logging.getLogger("picotask.graphql")
MASKED_MESSAGE = "Internal server error."


def is_unexpected(error: GraphQLError) -> bool:
    """Errors raised by our code that are not deliberate GraphQL errors: bugs, to be masked."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def request_id_of(execution_context: ExecutionContext | None) -> str | None:
    context = execution_context.context if execution_context else None
    return getattr(context, "request_id", None)


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    request_id = request_id_of(execution_context)
    for error in errors:
        if is_unexpected(error):
            log.error(
                "unexpected error in request %s at %s",
                request_id,
                error.path,
                exc_info=error.original_error,
            )
        else:
            log.debug("request %s: %s", request_id, error.message)


class MaskUnexpectedErrors(MaskErrors):
    """Replace a bug's message with a generic one that carries the request id from the logs."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={
                "code": "INTERNAL_SERVER_ERROR",
                "requestId": request_id_of(self.execution_context),
            },
        )


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories, not instances: strawberry builds one set per operation."""
    factories: list[Callable[..., Any]] = [
        MaskUnexpectedErrors,
        functools.partial(ParserCache, maxsize=settings.parser_cache_size),
        functools.partial(ValidationCache, maxsize=settings.validation_cache_size),
        functools.partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        functools.partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        functools.partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
    ]
    if settings.is_production:
        factories.append(DisableIntrospection)
    return factories
