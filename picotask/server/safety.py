"""Execution safety: error masking with request ids, and the limits a public API needs."""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
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

from picotask.services.text import json_problem, text_problem
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


LOGGED_CHARS = 4_000  # a traceback may quote a client's value: never log more than this


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Each bug once, bounded, with the request id; a refused input only at debug level and
    without a traceback."""
    request_id = request_id_of(execution_context)
    for error in errors:
        if is_unexpected(error):
            original = error.original_error
            assert original is not None
            trace = "".join(traceback.format_exception(original))
            if len(trace) > LOGGED_CHARS:
                trace = trace[: LOGGED_CHARS // 2] + "\n[...]\n" + trace[-LOGGED_CHARS // 2 :]
            log.error("unexpected error in request %s at %s\n%s", request_id, error.path, trace)
        else:
            log.debug("request %s: %s", request_id, error.message[:300])


SUGGESTION = re.compile(r"\s*Did you mean .*$", re.S)


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """No "Did you mean …" naming fields, arguments, types, input fields or enum values: with
    introspection off they would map the schema for anyone."""
    for error in errors:
        error.message = SUGGESTION.sub("", error.message)


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


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.problem: tuple[str, StringValueNode] | None = None

    def enter_string_value(self, node: StringValueNode, *_: object) -> object:
        if self.problem is None and (problem := text_problem(node.value)):
            self.problem = (problem, node)
            return self.BREAK
        return None


def literal_problem(document: DocumentNode) -> GraphQLError | None:
    found = _StringLiterals()
    visit(document, found)
    if found.problem is None:
        return None
    problem, node = found.problem
    return GraphQLError(f"A string in the query text {problem}.", nodes=[node])


class CleanInput(SchemaExtension):
    """Text that reaches a resolver is text every database stores: variables and the query's
    own string literals, checked once for HTTP and websockets alike, before anything runs.
    (Nesting depth is bounded earlier, where the JSON is decoded.)"""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        error = None
        if context.variables and (
            problem := json_problem(context.variables, "variables", self.max_depth)
        ):
            error = GraphQLError(f"Variable {problem.removeprefix('variables.')}")
        elif context.graphql_document is not None:
            error = literal_problem(context.graphql_document)
        if error is not None:
            # Set before validation runs: strawberry then skips it and answers this error.
            context.pre_execution_errors = [error]
        yield


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories, not instances: strawberry builds one set per operation."""
    factories: list[Callable[..., Any]] = [
        MaskUnexpectedErrors,
        functools.partial(ParserCache, maxsize=settings.parser_cache_size),
        functools.partial(ValidationCache, maxsize=settings.validation_cache_size),
        functools.partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
        functools.partial(QueryDepthLimiter, max_depth=settings.max_query_depth),
        functools.partial(MaxAliasesLimiter, max_alias_count=settings.max_aliases),
        # After ValidationCache, whose hook sets the validation result this may replace.
        functools.partial(CleanInput, max_depth=settings.max_json_depth),
    ]
    if settings.is_production:
        factories.append(DisableIntrospection)
    return factories
