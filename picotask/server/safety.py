"""Execution safety: error masking with request ids, and the limits a public API needs.

Just over ~300 lines: the extensions every operation passes through (masking, the document
caches, the limits, clean input) and the list of those safe for shared executions, in one place.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    StringValueNode,
    VariableDefinitionNode,
    Visitor,
    parse,
    visit,
)
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from picotask.server.cost import CostAnalysis
from picotask.server.cost_limit import CostLimit
from picotask.server.metrics import Observe, OperationNames
from picotask.server.metrics import enabled as metrics_on
from picotask.server.tracing import OperationSpans
from picotask.services.core.text import json_problem, text_problem
from picotask.settings import Settings
from picotask.subscriptions.failures import bounded_traceback

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
    """Each bug once, bounded, with the request id; a refused input only at debug level,
    without a traceback and without its message (which may quote an input: a password sent
    as the wrong type)."""
    request_id = request_id_of(execution_context)
    for error in errors:
        if is_unexpected(error):
            original = error.original_error
            assert original is not None
            trace = bounded_traceback(original)
            log.error("unexpected error in request %s at %s\n%s", request_id, error.path, trace)
        else:
            code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
            log.debug("request %s: %s at %s", request_id, code, error.path)


# graphql-core's words for a value it could not coerce (not a validation error about the
# document, such as an unused variable, which names the definition too).
BAD_VARIABLE = re.compile(r"Variable '\$\w+' ((has|got) invalid value|of (required|non-null) type)")


def code_bad_variables(errors: list[GraphQLError]) -> None:
    """A variable graphql-core could not coerce (an unknown enum value, a string for an Int, a
    missing required one) is the client's bad input, as the README says: `BAD_USER_INPUT`
    with the variable as `field`, like every other refusal a client can act on."""
    for error in errors:
        if error.extensions or error.path is not None:
            continue
        node = error.nodes[0] if error.nodes else None
        if isinstance(node, VariableDefinitionNode) and BAD_VARIABLE.match(error.message):
            error.extensions = {
                "code": "BAD_USER_INPUT",
                "field": [node.variable.name.value],
                "reason": "INVALID",
            }


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

    def _process_result(self, result: object) -> None:
        """As MaskErrors does, without its check against a runtime Protocol (an isinstance
        that walks the protocol's members, on every request: seen in the profile of
        bench/http.py); the results it is given carry `errors` or not at all."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]  # checked just above

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


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Rules = tuple[type[ASTValidationRule], ...]


class Lru(Generic[K, V]):
    """A map that keeps its `size` most recently used entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Documents:
    """What a document text always yields, worked out once per distinct text (per schema):
    its parse (bounded by `max_tokens`), its validation (the schema's rules and the limits),
    and the problem of its string literals. A page an app loads on every screen pays for none
    of them after its first request. Keyed by the text, whose hash Python keeps: a
    `DocumentNode` is a frozen dataclass that would hash its whole tree on every lookup.

    The counters tell how often each was really done (tests prove the caching with them)."""

    def __init__(self, settings: Settings) -> None:
        self.max_tokens = settings.max_tokens
        self.limits = limit_rules(settings)
        self._parsed: Lru[str, DocumentNode] = Lru(settings.parser_cache_size)
        self._validated: Lru[tuple[str, Rules], tuple[DocumentNode, list[GraphQLError]]] = Lru(
            settings.validation_cache_size
        )
        self._literals: Lru[str, tuple[DocumentNode, GraphQLError | None]] = Lru(
            settings.validation_cache_size
        )
        self.parses = 0
        self.validations = 0
        self.literal_checks = 0

    def parse(self, text: str) -> DocumentNode:
        """The parsed document; a GraphQLError (a syntax error, too many tokens) is raised
        and not kept: strawberry then parses the text itself and answers that error."""
        document = self._parsed.get(text)
        if document is None:
            self.parses += 1
            document = parse(text, max_tokens=self.max_tokens)
            self._parsed.put(text, document)
        return document

    def validate(
        self, schema: GraphQLSchema, text: str | None, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        """Validation errors (none: an empty list). The rule classes are part of the key, so
        every rule must be a class made once, not one per request."""
        if text is None:
            self.validations += 1
            return validate_document(schema, document, rules)
        key = (text, rules)
        known = self._validated.get(key)
        if known is None or known[0] is not document:
            self.validations += 1
            known = (document, validate_document(schema, document, rules))
            self._validated.put(key, known)
        return list(known[1])

    def literal_problem(self, text: str | None, document: DocumentNode) -> GraphQLError | None:
        if text is None:
            self.literal_checks += 1
            return literal_problem(document)
        known = self._literals.get(text)
        if known is None or known[0] is not document:
            self.literal_checks += 1
            known = (document, literal_problem(document))
            self._literals.put(text, known)
        return known[1]


class CachedDocuments(SchemaExtension):
    """Parse and validate through `Documents`: once per distinct document text."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        run = self.execution_context
        # The token limit holds for a text strawberry parses itself (one that failed here).
        run.parse_options["max_tokens"] = self.documents.max_tokens
        run.validation_rules = run.validation_rules + self.documents.limits
        if run.graphql_document is None and run.query:
            with contextlib.suppress(GraphQLError):
                run.graphql_document = self.documents.parse(run.query)
        yield

    def on_validate(self) -> Iterator[None]:
        run = self.execution_context
        if run.pre_execution_errors is None and run.graphql_document is not None:
            run.pre_execution_errors = self.documents.validate(
                run.schema._schema, run.query, run.graphql_document, run.validation_rules
            )
        yield


def limit_rules(settings: Settings) -> Rules:
    """The depth and alias limits as validation rules, their classes made once per schema:
    strawberry's `QueryDepthLimiter` and `MaxAliasesLimiter` make new classes for every
    operation, which would make every request's rules differ and defeat the cache."""
    return (
        depth_rule(settings.max_query_depth, should_ignore=None),
        aliases_rule(settings.max_aliases),
    )


class CleanInput(SchemaExtension):
    """Text that reaches a resolver is text every database stores: variables and the query's
    own string literals, checked once for HTTP and websockets alike, before anything runs.
    (Nesting depth is bounded earlier, where the JSON is decoded.)"""

    def __init__(self, max_depth: int, documents: Documents) -> None:
        self.max_depth = max_depth
        self.documents = documents

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        error = None
        if context.variables and (
            problem := json_problem(context.variables, "variables", self.max_depth)
        ):
            error = GraphQLError(f"Variable {problem.removeprefix('variables.')}")
        elif context.graphql_document is not None:
            error = self.documents.literal_problem(context.query, context.graphql_document)
        if error is not None:
            # Set before validation runs: strawberry then skips it and answers this error.
            context.pre_execution_errors = [error]
        yield


# Those of `extensions()` whose hooks change nothing of a subscription's events (checked one by
# one): parse and validation hooks, the cost charged once at the start and never added to a
# subscription's results, introspection refused at validation, and the masking of errors
# (a result with errors always goes to its subscriber's own generator, which masks it).
# A group of subscribers shares each event's execution and its frames only when every
# extension of the schema is one of these or has no hook at all (server/fanout.py): an
# extension added to the list with a hook turns the sharing off until it is checked and
# named here. Tracing's `OperationSpans` (added to the list only when tracing is on) has an
# operation hook alone, which opens and closes a span around each subscriber's own run and
# changes nothing of its results: a shared execution, outside every operation, is not traced.
# `Observe` (server/metrics.py) only reads: its operation and execute hooks time the operation,
# count its errors and log it, and change nothing of it or of its events.
SHARED_SAFE: frozenset[type[SchemaExtension]] = frozenset(
    {
        MaskUnexpectedErrors,
        CachedDocuments,
        CleanInput,
        CostLimit,
        DisableIntrospection,
        OperationSpans,
        Observe,
    }
)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories, not instances: strawberry builds one set per operation."""
    costs = CostAnalysis(size=settings.parser_cache_size)
    # One per schema: every operation's extensions share what it knows of each document.
    documents = Documents(settings)
    names = OperationNames(settings.metrics_max_operation_names)
    factories: list[Callable[..., Any]] = [
        # First: its operation hook ends last, when the errors are masked and counted.
        functools.partial(Observe, names, count=metrics_on(settings)),
        MaskUnexpectedErrors,
        # Parse (token limit), validation (depth and alias limits): once per document text.
        functools.partial(CachedDocuments, documents),
        # After CachedDocuments, whose hook sets the validation result this may replace.
        functools.partial(CleanInput, max_depth=settings.max_json_depth, documents=documents),
        # Last of the validation hooks: only a document every check accepted is charged.
        functools.partial(CostLimit, analysis=costs, max_cost=settings.max_query_cost),
    ]
    if settings.is_production:
        factories.append(DisableIntrospection)
    return factories
