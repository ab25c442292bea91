"""Fields that complete without an await when their data is already at hand.

A list resolver that knows its items will need related rows (a task page and its employers)
loads them through the request's dataloader in one batch, before it returns (`prefetch`, only
when the selection asks for them). The item's field then takes the row from the loader at
once (`loaded`) and the list completes synchronously: no coroutine, future and task per item.
A field whose row was not prefetched still awaits the same loader, batched as before.

Better still, the list resolver hands each item the converted value itself (`attach`), one per
distinct row, in an attribute its field names in its metadata (`PREFETCHED`): the executor
then reads the field as a plain attribute (`server/execution.py`), with no resolver call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
)
from graphql import SelectionSetNode as Selections
from strawberry.dataloader import DataLoader

from picotask.schema.context import Info

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")
T = TypeVar("T")

# The strawberry field metadata key naming the attribute a list resolver may set with the
# field's value: `strawberry.field(metadata={PREFETCHED: "employer_view"})`.
PREFETCHED = "picotask-prefetched"


def loaded(loader: DataLoader[K, V], key: K, convert: Callable[[V], R]) -> R | Awaitable[R]:
    """`convert` of the loader's value for `key`: at once if the loader already has it, else
    once the loader's batch brings it. (Not told apart by `isinstance(value, Awaitable)`: a
    tortoise model is awaitable.)"""
    future = loader.cache_map.get(key) if loader.cache else None
    done = future is not None and future.done() and not future.cancelled()
    if done and future is not None and future.exception() is None:
        return convert(future.result())

    async def later() -> R:
        return convert(await loader.load(key))

    return later()


async def prefetch(loader: DataLoader[K, Any], keys: Iterable[K]) -> None:
    """Load `keys` in one batch now, so `loaded` finds them."""
    await loader.load_many(list(dict.fromkeys(keys)))


async def attach(
    items: list[T],
    loader: DataLoader[K, V],
    key: Callable[[T], K],
    convert: Callable[[V], R],
    store: Callable[[T, R], None],
) -> None:
    """Each item's related row, loaded in one batch and converted once per distinct row,
    handed to the item by `store` (the attribute its field names as `PREFETCHED`)."""
    keys = [key(item) for item in items]
    distinct = list(dict.fromkeys(keys))
    views = dict(zip(distinct, map(convert, await loader.load_many(distinct)), strict=True))
    for item, k in zip(items, keys, strict=True):
        store(item, views[k])


def _fields(
    parents: Iterable[FieldNode], name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FieldNode]:
    """The fields called `name` selected under `parents`, through fragments (once each)."""
    found: list[FieldNode] = []
    pending: list[Selections] = [p.selection_set for p in parents if p.selection_set]
    seen: set[str] = set()
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                if node.name.value == name:
                    found.append(node)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                seen.add(node.name.value)
                fragment = fragments.get(node.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return found


def selects(info: Info, *path: str) -> bool:
    """Whether the current field's selection reaches `path` (field names, such as
    `"edges", "node", "employer"`), through any fragment. @skip/@include count as selected."""
    # graphql-core's own info: its field nodes and fragments as parsed (and cached), walked
    # along `path` only; `info.selected_fields` would convert the whole selection first.
    raw = info._raw_info
    nodes: list[FieldNode] = list(raw.field_nodes)
    for name in path:
        nodes = _fields(nodes, name, raw.fragments)
    return bool(nodes)
