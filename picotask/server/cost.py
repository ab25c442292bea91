"""The cost of an operation, known before it runs (as GitHub's and Shopify's APIs do).

Points count the objects an operation may return, as Shopify counts them:
- a scalar or enum field costs nothing; an object field costs 1 plus its selection;
- a list under a field that takes `first` (a connection's `edges`) holds `first` items
  (the default page when not given, at most the largest page), each costing 1 plus its
  selection, so nested connections multiply;
- other lists are data kept with their parent (proof fields, answers, userErrors): one item;
- on an interface or union, the costliest of the types it may be;
- each root mutation field costs `MUTATION_COST` more, for the writing.
The document is compiled once into a small expression (kept per query text and operation
name); only `first` comes from variables, so each request only evaluates it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_object_type,
    value_from_ast_untyped,
)

from picotask.services.core.pagination import DEFAULT_PAGE, MAX_PAGE

MUTATION_COST = 10


@dataclass(frozen=True, slots=True)
class Variable:
    """`first: $name`; `default` is the variable's own default, if any."""

    name: str
    default: object = None


Size: TypeAlias = int | Variable


@dataclass(frozen=True, slots=True, eq=False)
class Sum:
    constant: int
    parts: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Times:
    size: Size
    each: Expr


@dataclass(frozen=True, slots=True, eq=False)
class Largest:
    options: tuple[Expr, ...]


Expr: TypeAlias = Sum | Times | Largest


def page_size(value: object) -> int:
    """Items a `first` asks for: the default when absent, the largest page when not a page
    size (execution refuses it anyway)."""
    if value is None:
        return DEFAULT_PAGE
    if isinstance(value, bool) or not isinstance(value, int):
        return MAX_PAGE
    return max(0, min(value, MAX_PAGE))


def evaluate(expr: Expr, variables: Mapping[str, Any]) -> int:
    """The points of a compiled operation; shared parts (fragments) are computed once."""
    done: dict[int, int] = {}

    def size(of: Size) -> int:
        if isinstance(of, int):
            return of
        return page_size(variables.get(of.name, of.default))

    def value(e: Expr) -> int:
        if id(e) not in done:
            if isinstance(e, Sum):
                done[id(e)] = e.constant + sum(value(p) for p in e.parts)
            elif isinstance(e, Times):
                done[id(e)] = size(e.size) * value(e.each)
            else:
                done[id(e)] = max((value(o) for o in e.options), default=0)
        return done[id(e)]

    return value(expr)


class Compiler:
    """One operation into an `Expr`. Tolerates what validation would refuse (unknown fields
    and fragments, fragment cycles), so it never fails before validation does."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, object] = {}
        self.sizes: set[str] = set()  # the variables that set a `first`
        self.memo: dict[tuple[tuple[int, ...], str, Size | None], Expr] = {}

    def operation(self, operation: OperationDefinitionNode) -> Expr:
        for definition in operation.variable_definitions or ():
            if definition.default_value is not None:
                default = value_from_ast_untyped(definition.default_value)
                # Kept hashable; anything but a whole number counts as the largest page.
                kept = default if default is None or isinstance(default, int) else "invalid"
                self.defaults[definition.variable.name.value] = kept
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return Sum(0)
        cost = self.selection((operation.selection_set,), root, None)
        if operation.operation == OperationType.MUTATION:
            fields = self._fields((operation.selection_set,), root)
            return Sum(MUTATION_COST * len(fields), (cost,))
        return cost

    def selection(
        self, sets: Sequence[SelectionSetNode], parent: GraphQLNamedType, page: Size | None
    ) -> Expr:
        key = (tuple(id(s) for s in sets), parent.name, page)
        if key not in self.memo:
            if is_abstract_type(parent):
                options = self.schema.get_possible_types(parent)
                self.memo[key] = Largest(tuple(self._on(sets, t, page) for t in options))
            elif isinstance(parent, GraphQLObjectType):
                self.memo[key] = self._on(sets, parent, page)
            else:
                self.memo[key] = Sum(0)
        return self.memo[key]

    def _on(
        self, sets: Sequence[SelectionSetNode], parent: GraphQLObjectType, page: Size | None
    ) -> Expr:
        parts: list[Expr] = []
        for nodes in self._fields(sets, parent).values():
            definition = self._definition(parent, nodes[0].name.value)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                continue
            children = tuple(n.selection_set for n in nodes if n.selection_set is not None)
            each = Sum(1, (self.selection(children, named, self._first(nodes[0], definition)),))
            is_list = is_list_type(get_nullable_type(definition.type))
            parts.append(Times(page, each) if is_list and page is not None else each)
        return Sum(0, tuple(parts))

    def _first(self, node: FieldNode, definition: GraphQLField) -> Size | None:
        """The page size of a field that takes `first`, for its lists (a connection's edges)."""
        if "first" not in definition.args:
            return None
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                self.sizes.add(name)
                return Variable(name, self.defaults.get(name))
            if isinstance(argument.value, IntValueNode):
                return page_size(int(argument.value.value))
            return page_size(None if argument.value.kind == "null_value" else "not a number")
        return DEFAULT_PAGE

    def _definition(self, parent: GraphQLObjectType, name: str) -> GraphQLField | None:
        if parent is self.schema.query_type and name in ("__schema", "__type"):
            return SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        field: GraphQLField | None = parent.fields.get(name)
        return field

    def _fields(
        self, sets: Sequence[SelectionSetNode], parent: GraphQLObjectType
    ) -> dict[str, list[FieldNode]]:
        """Fields by response key, merged across fragments, as execution merges them; @skip
        and @include are ignored (counted as if included)."""
        found: dict[str, list[FieldNode]] = {}
        pending = [(s, frozenset[str]()) for s in reversed(sets)]
        while pending:
            selection_set, seen = pending.pop()
            for selection in reversed(selection_set.selections):
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    found.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self._applies(condition.name.value, parent):
                        pending.append((selection.selection_set, seen))
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None or name in seen:
                        continue
                    if self._applies(fragment.type_condition.name.value, parent):
                        pending.append((fragment.selection_set, seen | {name}))
        return found

    def _applies(self, condition: str, parent: GraphQLObjectType) -> bool:
        target = self.schema.get_type(condition)
        if target is None:
            return False
        if is_object_type(target):
            return target is parent
        return is_abstract_type(target) and self.schema.is_sub_type(target, parent)


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation that will run: the one named, or the document's only one."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


@dataclass(slots=True)
class Compiled:
    expr: Expr
    sizes: tuple[str, ...]
    defaults: dict[str, object]
    # Points by the values of `sizes`: most clients send the same few.
    known: dict[tuple[int, ...], int]


SIZES_KEPT = 16


class CostAnalysis:
    """Compiled operations, the most recently used `size` of them kept; each evaluated once
    for each set of page sizes it is sent with."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._compiled: OrderedDict[tuple[str, str | None], Compiled] = OrderedDict()

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        query: str | None,
    ) -> int:
        if query is None:
            return evaluate(Compiler(schema, document).operation(operation), variables)
        key = (query, operation.name.value if operation.name else None)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiler = Compiler(schema, document)
            expr = compiler.operation(operation)
            compiled = Compiled(expr, tuple(sorted(compiler.sizes)), compiler.defaults, {})
            self._compiled[key] = compiled
            while len(self._compiled) > self.size:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        sizes = tuple(
            page_size(variables.get(name, compiled.defaults.get(name))) for name in compiled.sizes
        )
        points = compiled.known.get(sizes)
        if points is None:
            points = evaluate(compiled.expr, variables)
            if len(compiled.known) < SIZES_KEPT:
                compiled.known[sizes] = points
        return points
