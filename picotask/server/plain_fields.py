"""Which fields are plain: the per-schema half of the fast path (server/execution.py).

A field is plain by strawberry's own account (`StrawberryField.is_basic_field`: no resolver, no
field extension) and without a permission class or a directive: then strawberry itself runs
nothing around its value, so reading the attribute answers as strawberry would. Worked out
once per schema, keyed by the id of each field's definition.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    is_leaf_type,
    is_object_type,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from picotask.schema.prefetch import PREFETCHED


@dataclass(frozen=True, slots=True)
class Plain:
    """A basic field: its definition (kept, so its id stays its own), its type without the
    non-null wrapper (for a list, its items' object type), whether it may be null, and how
    its value is read from its object. For a list, `item` is the items' type as declared."""

    field: GraphQLField
    type: GraphQLLeafType | GraphQLObjectType
    nullable: bool
    leaf: bool
    read: Callable[[Any], Any]
    item: GraphQLOutputType | None = None

    def checked(self, value: Any) -> bool:
        """Whether `value` passes the object type's own check (`is_type_of`, which strawberry
        sets on types with interfaces: an isinstance) for certain. An error, a no or an
        awaitable leaves it to graphql-core, which asks again and answers as it does."""
        check = self.type.is_type_of if isinstance(self.type, GraphQLObjectType) else None
        if check is None:
            return True
        try:
            return check(value, None) is True  # type: ignore[arg-type]  # strawberry's ignore it
        except Exception:
            return False


def _reader(field: GraphQLField) -> Callable[[Any], Any]:
    """The attribute itself when strawberry reads it with `getattr` (its default resolver),
    else strawberry's own basic resolver."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if isinstance(definition, StrawberryField) and definition.default_resolver is getattr:
        return operator.attrgetter(definition.python_name)
    resolve = field.resolve
    assert resolve is not None
    return lambda source: resolve(source, None)


def _unguarded(field: GraphQLField) -> StrawberryField | None:
    """The field's strawberry definition when strawberry itself would run nothing around its
    value: no permission class, no field extension, no directive (a permission class is also a
    `PermissionExtension`, a field extension the only way strawberry runs code around a field
    without a resolver). graphql-core's resolver of a field without a resolver but with either
    is still marked `_is_default` (it only tells there is no resolver), so that mark alone
    would read the value past the permission or the extension. Any other field, or one
    strawberry did not make, takes graphql-core's own path."""
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField):
        return None
    if definition.extensions or definition.permission_classes or definition.directives:
        return None
    return definition


def _plain_object(of: Any) -> GraphQLObjectType | None:
    """An object type (not an interface or union, whose runtime type must be resolved)."""
    return of if is_object_type(of) else None


def _prefetched(field: GraphQLField) -> Plain | None:
    """A resolver field whose value a list resolver may attach (`PREFETCHED`): read as a
    plain object field, and unset (None) sends it to its resolver, even where null may be."""
    definition = _unguarded(field)
    name = definition.metadata.get(PREFETCHED) if definition is not None else None
    of = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(name, str) or field.args or (target := _plain_object(of)) is None:
        return None
    return Plain(field, target, False, False, operator.attrgetter(name))


def plain_fields(schema: GraphQLSchema) -> dict[int, Plain]:
    """Every basic field of the schema's object types, by the id of its definition: one
    strawberry completes as the attribute itself (`StrawberryField.is_basic_field`, no
    resolver and no extension), without a permission class or a directive either."""
    found: dict[int, Plain] = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for field in named.fields.values():
            definition = _unguarded(field)
            if definition is None:
                continue
            if not (definition.is_basic_field and getattr(field.resolve, "_is_default", False)):
                if (prefetched := _prefetched(field)) is not None:
                    found[id(field)] = prefetched
                continue
            of = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            nullable = not isinstance(field.type, GraphQLNonNull)
            if is_leaf_type(of):
                found[id(field)] = Plain(field, of, nullable, True, _reader(field))
            elif (target := _plain_object(of)) is not None:
                found[id(field)] = Plain(field, target, nullable, False, _reader(field))
            elif isinstance(of, GraphQLList):
                item = of.of_type
                inner = item.of_type if isinstance(item, GraphQLNonNull) else item
                if (target := _plain_object(inner)) is not None:
                    found[id(field)] = Plain(field, target, nullable, False, _reader(field), item)
    return found


_PLAIN: dict[int, tuple[GraphQLSchema, dict[int, Plain]]] = {}


def plain_of(schema: GraphQLSchema) -> dict[int, Plain]:
    known = _PLAIN.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, plain_fields(schema))
        _PLAIN[id(schema)] = known
    return known[1]
