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

import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


@dataclass(frozen=True, slots=True)
class Plain:
    """A basic field: its definition (kept, so its id stays its own), its type without the
    non-null wrapper, whether it may be null, and how its value is read from its object."""

    field: GraphQLField
    type: GraphQLLeafType | GraphQLObjectType
    nullable: bool
    leaf: bool
    read: Callable[[Any], Any]


def _reader(field: GraphQLField) -> Callable[[Any], Any]:
    """The attribute itself when strawberry reads it with `getattr` (its default resolver),
    else strawberry's own basic resolver."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if isinstance(definition, StrawberryField) and definition.default_resolver is getattr:
        return operator.attrgetter(definition.python_name)
    resolve = field.resolve
    assert resolve is not None
    return lambda source: resolve(source, None)


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
                found[id(field)] = Plain(field, of, nullable, True, _reader(field))
            elif is_object_type(of) and of.is_type_of is None:
                found[id(field)] = Plain(field, of, nullable, False, _reader(field))
    return found


_PLAIN: dict[int, tuple[GraphQLSchema, dict[int, Plain]]] = {}


def _plain_of(schema: GraphQLSchema) -> dict[int, Plain]:
    known = _PLAIN.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, plain_fields(schema))
        _PLAIN[id(schema)] = known
    return known[1]


_SLOW = object()  # the fast path gave up: graphql-core's own path answers
_PRIMITIVE = frozenset({str, int, float, bool})  # never awaitable: no need to ask


def _value(plain: Plain, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
    """A plain field's attribute, None for a null it may be, or `_SLOW` for anything
    graphql-core must answer itself (an error, a null where none may be, an awaitable)."""
    try:
        value = plain.read(source)
    except Exception:
        return _SLOW
    if value is None or value is Undefined:
        return None if plain.nullable else _SLOW
    if type(value) not in _PRIMITIVE and (isinstance(value, Exception) or is_awaitable(value)):
        return _SLOW
    return value


def _leaf(plain: Plain, source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
    """A plain scalar or enum field's value as graphql-core completes it, or `_SLOW`."""
    value = _value(plain, source, is_awaitable)
    if value is None or value is _SLOW:
        return value
    try:
        coerced = plain.type.coerce_output_value(value)  # type: ignore[union-attr]  # a leaf
    except Exception:
        return _SLOW
    return _SLOW if coerced is None or coerced is Undefined else coerced


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
        plain = self._found(parent_type, field_details_list)
        if plain is not None:
            done = self._plain(plain, source, field_details_list, path, position_context)
            if done is not _SLOW:
                return done
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """An object whose selected fields are all plain scalars (`reward { amount currency }`)
        at once; any other through graphql-core's own loop (and `execute_field` below)."""
        results: dict[str, Any] = {}
        for response_name, field_details_list in grouped_field_set.items():
            plain = self._found(parent_type, field_details_list)
            if plain is None or not plain.leaf:
                break
            value = _leaf(plain, source_value, self.is_awaitable)
            if value is _SLOW:
                break
            results[response_name] = value
        else:
            return results
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def _found(
        self, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Plain | None:
        field = parent_type.fields.get(field_details_list[0].node.name.value)
        plain = self.plain.get(id(field)) if field is not None else None
        return plain if plain is not None and plain.field is field else None

    def _plain(
        self,
        plain: Plain,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if plain.leaf:
            return _leaf(plain, source, self.is_awaitable)
        value = _value(plain, source, self.is_awaitable)
        if value is None or value is _SLOW:
            return value
        # An object: its own fields, each through this executor again; an error that reaches
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


def _lean(schema: Schema, field: StrawberryField) -> Callable[..., Any] | None:
    """The resolver of a field whose resolver takes no argument but its object and the
    info (`Task.employer`), called as strawberry calls it, without its generic steps for
    arguments and field extensions (none here); None for any other field."""
    resolver = field.base_resolver
    if (
        resolver is None
        or field.extensions
        or field.is_subscription
        or resolver.arguments
        or schema.exception_handlers
    ):
        return None
    call: Callable[..., Any] = resolver  # StrawberryResolver.__call__: its wrapped function
    info_class = schema.config.info_class
    bound = resolver.self_parameter is not None
    named = [p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    def lean(source: Any, info: GraphQLResolveInfo[Any]) -> Any:
        kwargs: dict[str, Any] = dict.fromkeys(named, source)
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=field)
        return call(source, **kwargs) if bound else call(**kwargs)

    return lean


LEAN = "picotask-strawberry-resolve"  # where a lean field keeps strawberry's own resolver


def lean_resolvers(schema: Schema) -> int:
    """Give every field `_lean` accepts its lean resolver; how many."""
    done = 0
    for named in schema._schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for graphql_field in named.fields.values():
            field = graphql_field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if graphql_field.args or not isinstance(field, StrawberryField):
                continue
            lean = _lean(schema, field)
            if lean is not None:
                graphql_field.extensions[LEAN] = graphql_field.resolve  # tests compare both
                graphql_field.resolve = lean
                done += 1
    return done
