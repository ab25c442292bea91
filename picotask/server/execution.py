"""Plain fields completed without graphql-core's per-field machinery.

Most fields of a page are "basic" (strawberry's name): no resolver, no field extension (so
no permission class either), no directive, the value is the attribute of the object
strawberry already built (`Task.title`, `Money.amount`, `User.displayName`). graphql-core
still builds a resolve info, collects arguments and walks `complete_value` for each of them:
about half the time of a page of twenty tasks went there. `PlainFieldsExecutor` reads such a
field's attribute and coerces it at once (a scalar or an enum), or goes straight to the
object's own fields (an object type, once its own type check passes); anything else (a
resolver, a permission, a field extension, an abstract type, a null where none may be, a
value the scalar refuses, schema middleware) takes graphql-core's own path, which then
answers exactly as it always does, errors included. Reading a basic field has no side
effect, so a field the fast path gives up on can be done again by the slow one.

Two kinds of field beyond a single attribute take the same path:
- a list of objects held as a plain list (`edges`): each item straight to its own fields,
  without graphql-core's per-item completion steps;
- a field with a resolver whose value the list resolver already attached to the object
  (`Task.employer` on a page of tasks, `schema/prefetch.py`): its strawberry field names the
  attribute in its metadata (`PREFETCHED`); when the attribute is unset, the resolver runs.

Just over ~300 lines: one executor whose overrides work together (fields, lists, the
prefetched ones), and the lean resolvers it pairs with; which fields are plain is worked out
apart (server/plain_fields.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import (
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from picotask.server.plain_fields import Plain, plain_of

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
        self.plain = {} if wrapped else plain_of(self.schema)
        self._plans: dict[int, tuple[GroupedFieldSet, GraphQLObjectType, list[Any]]] = {}

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        plain = self._found(parent_type, field_details_list)
        return self._field(plain, parent_type, source, field_details_list, path, position_context)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's loop over an object's fields in one pass: a plain scalar or enum at
        once (no path, no call), any other field through `_field`, and the awaitables among
        them gathered as graphql-core gathers them."""
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plain in self._plan(
                parent_type, grouped_field_set
            ):
                if plain is not None and plain.leaf:
                    value = _leaf(plain, source_value, is_awaitable)
                    if value is not _SLOW:
                        results[response_name] = value
                        continue
                field_path = Path(path, response_name, parent_type.name)
                details = field_details_list
                result = self._field(
                    plain, parent_type, source_value, details, field_path, position_context
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settled, as they may fail too (as graphql-core does)
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        return _gathered(results, awaitable_fields)

    def _field(
        self,
        plain: Plain | None,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if plain is not None:
            done = self._plain(plain, source, field_details_list, path, position_context)
            if done is not _SLOW:
                return done
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[tuple[str, FieldDetailsList, Plain | None]]:
        """Each field of a selection with its plain definition, found once per request for
        every object that selection completes (graphql-core collects a selection once per
        request, so the twenty tasks of a page share one)."""
        known = self._plans.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set and known[1] is parent_type:
            return known[2]
        plan = [
            (name, details, self._found(parent_type, details))
            for name, details in grouped_field_set.items()
        ]
        # The selection is kept with its plan, so its id is not reused while the plan lives.
        self._plans[id(grouped_field_set)] = (grouped_field_set, parent_type, plan)
        return plan

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
        if plain.item is not None:
            return self._list(plain, value, field_details_list, path, position_context)
        if not plain.checked(value):
            return _SLOW
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
            return self._later(completed, plain.field.type, field_details_list, path)
        return completed

    def _list(
        self,
        plain: Plain,
        items: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        """A plain list of objects, each item straight to its own fields, completed as
        graphql-core's `complete_iterable_value` completes them (errors and awaitables
        alike); `_SLOW` when the list asks for more (not a list, a null or awaitable item, a
        directive such as @stream on the field)."""
        is_awaitable = self.is_awaitable
        if type(items) is not list or any(d.node.directives for d in field_details_list):
            return _SLOW
        if any(item is None or is_awaitable(item) or not plain.checked(item) for item in items):
            return _SLOW
        assert isinstance(plain.type, GraphQLObjectType)
        assert plain.item is not None
        object_type, item_type = plain.type, plain.item
        completed: list[Any] = []
        pending: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                try:
                    value = self.collect_and_execute_subfields(
                        object_type, field_details_list, item_path, item, position_context
                    )
                except Exception as error:
                    self.handle_field_error(error, item_type, field_details_list, item_path)
                    value = None
                else:
                    if is_awaitable(value):
                        value = self._later(value, item_type, field_details_list, item_path)
                        pending.append(index)
                completed.append(value)
        except Exception as error:
            if pending:
                self.settle_in_background([completed[i] for i in pending])
            self.handle_field_error(error, plain.field.type, field_details_list, path)
            return None
        if not pending:
            return completed
        return self._later(
            _gathered(completed, pending), plain.field.type, field_details_list, path
        )

    async def _later(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as error:
            self.handle_field_error(error, return_type, field_details_list, path)
            return None


Completed = TypeVar("Completed", dict[str, Any], list[Any])


async def _gathered(completed: Completed, pending: list[Any]) -> Completed:
    """An object's fields or a list's items with their awaitables (at the keys `pending`)
    replaced by their values, awaited together as graphql-core awaits them (one alone)."""
    if len(pending) == 1:
        completed[pending[0]] = await completed[pending[0]]
    else:
        awaited = await gather_with_cancel(*(completed[key] for key in pending))
        for key, value in zip(pending, awaited, strict=True):
            completed[key] = value
    return completed


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
