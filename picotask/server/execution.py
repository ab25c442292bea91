"""Plain fields completed without graphql-core's per-field machinery.

Most fields of a page are "basic" (strawberry's name): no resolver, no field extension, the
value is the attribute of the object strawberry already built (`Task.title`, `Money.amount`,
`User.displayName`). graphql-core still builds a resolve info, collects arguments and walks
`complete_value` for each of them: about half the time of a page of twenty tasks went there.
`PlainFieldsExecutor` reads such a field's attribute and coerces it at once (a scalar or an
enum), or goes straight to the object's own fields (an object type that needs no type check);
anything else (a resolver, an abstract type, a list, a null where none may be, a value the
scalar refuses, schema middleware) takes graphql-core's own path, which then answers exactly
as it always does, errors included. Reading a basic field has no side effect, so a field the
fast path gives up on can be done again by the slow one.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


@dataclass(frozen=True, slots=True)
class Plain:
    """A basic field: its definition (kept, so its id stays its own), its type without the
    non-null wrapper, and whether it may be null."""

    field: GraphQLField
    type: GraphQLLeafType | GraphQLObjectType
    nullable: bool
    leaf: bool


def plain_fields(schema: GraphQLSchema) -> dict[int, Plain]:
    """Every basic field of the schema's object types, by the id of its definition."""
    found: dict[int, Plain] = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            if not getattr(field.resolve, "_is_default", False):  # strawberry's basic fields
                continue
            of = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            nullable = not isinstance(field.type, GraphQLNonNull)
            if is_leaf_type(of):
                found[id(field)] = Plain(field, of, nullable, leaf=True)
            elif is_object_type(of) and of.is_type_of is None:
                found[id(field)] = Plain(field, of, nullable, leaf=False)
    return found


_PLAIN: dict[int, tuple[GraphQLSchema, dict[int, Plain]]] = {}


def _plain_of(schema: GraphQLSchema) -> dict[int, Plain]:
    known = _PLAIN.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, plain_fields(schema))
        _PLAIN[id(schema)] = known
    return known[1]


_SLOW = object()  # the fast path gave up: graphql-core's own path answers


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Schema middleware (a SchemaExtension with `resolve`) wraps every field: no fast path.
        # (strawberry passes a manager on every request, empty without such an extension.)
        wrapped = self.middleware_manager is not None and self.middleware_manager.middlewares
        self.plain = {} if wrapped else _plain_of(self.schema)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        field = parent_type.fields.get(field_details_list[0].node.name.value)
        plain = self.plain.get(id(field)) if field is not None else None
        if plain is not None and plain.field is field:
            done = self._plain(plain, source, field_details_list, path, position_context)
            if done is not _SLOW:
                return done
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _plain(
        self,
        plain: Plain,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        try:
            value = plain.field.resolve(source, None)  # type: ignore[misc]  # set: a basic field
        except Exception:
            return _SLOW
        if value is None or value is Undefined:
            return None if plain.nullable else _SLOW
        if isinstance(value, Exception) or self.is_awaitable(value):
            return _SLOW
        if plain.leaf:
            try:
                coerced = plain.type.coerce_output_value(value)  # type: ignore[union-attr]
            except Exception:
                return _SLOW
            return _SLOW if coerced is None or coerced is Undefined else coerced
        # An object: its own fields, each through this method again; an error that reaches
        # here (a non-null child's) is handled as graphql-core's execute_field handles it.
        assert isinstance(plain.type, GraphQLObjectType)
        try:
            completed = self.collect_and_execute_subfields(
                plain.type, field_details_list, path, value, position_context
            )
        except Exception as error:
            self.handle_field_error(error, plain.field.type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._later(completed, plain, field_details_list, path)
        return completed

    async def _later(
        self,
        completed: Awaitable[Any],
        plain: Plain,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, plain.field.type, field_details_list, path)
            return None
