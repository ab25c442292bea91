"""The fast paths answer as strawberry does for what the schema may come to have, though the
API has none of it yet: a permission class or a field extension on a field without a resolver
(server/execution.py), a schema extension's hooks (server/fanout.py, server/direct.py).

Each test gives the app's own schema such a rule, then asks the same over HTTP or a shared
`taskFeed` twice, through strawberry's stock execution (`strawberry_execution`) and through
ours, and compares the answers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField

from picotask.models.users import User as UserModel
from picotask.schema.context import Context, Info
from picotask.schema.tasks import TaskType
from tests.instances import api_with
from tests.support import Api, Backend, User
from tests.test_fanout import counts, subscribed
from tests.test_marketplace_api import create, employer
from tests.test_request_cost import strawberry_execution, view_of

EXPIRES = "2027-01-01T00:00:00+00:00"  # after the test clock's now


class Deny(BasePermission):
    message = "Not for you."

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


class Upper(FieldExtension):
    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@contextlib.contextmanager
def ruled(owner: type, name: str, rules: StrawberryField) -> Iterator[None]:
    """One field of the app's types with the permission classes and extensions of `rules` (a
    `strawberry.field(...)`, as a new field would declare them), in the schemas built
    meanwhile: server/schema.py gives its root fields their refusals the same way."""
    definition = get_object_definition(owner, strict=True)
    [field] = [f for f in definition.fields if f.python_name == name]
    assert field.is_basic_field  # a field the fast path takes today
    kept = field.permission_classes, field.extensions
    field.permission_classes, field.extensions = rules.permission_classes, rules.extensions
    try:
        yield
    finally:
        field.permission_classes, field.extensions = kept


@pytest.fixture
async def ruled_api(database_url: str, backend: Backend) -> AsyncIterator[Api]:
    """The app, with `Task.title` uppercased by a field extension and `Task.expiresAt` denied
    to everyone by a permission class."""
    with (
        ruled(TaskType, "title", strawberry.field(extensions=[Upper()])),
        ruled(TaskType, "expires_at", strawberry.field(permission_classes=[Deny])),
    ):
        async with api_with(database_url, backend.broadcast) as api:
            yield api


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    body.pop("extensions", None)  # the budget left differs from one request to the next
    return body


async def both_ways(api: Api, query: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same request answered by our execution and by strawberry's stock one."""
    ours = without_cost((await api.post(query, token=token)).json())
    with strawberry_execution(api):
        theirs = without_cost((await api.post(query, token=token)).json())
    return ours, theirs


async def feed(api: Api, boss: User, viewers: list[User], query: str) -> list[dict[str, Any]]:
    """The `next` payload each viewer receives of one task posted while all of them subscribe
    `query`, each on a socket of their own."""
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(api.ws(viewer.token)) for viewer in viewers]
        for ws in sockets:
            await subscribed(api, ws, "feed", query)
        await create(api, boss, title="Quiet title", expiresAt=EXPIRES)
        frames = [await ws.receive_for("feed") for ws in sockets]
    assert all(frame["type"] == "next" for frame in frames), frames
    return [frame["payload"] for frame in frames]


async def feed_both_ways(
    api: Api, boss: User, viewers: list[User], query: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], tuple[int, int, int]]:
    """`feed` through strawberry's stock execution, then through ours; with what ours did:
    (shared executions, shared deliveries, executions for one subscriber)."""
    with strawberry_execution(api):
        theirs = await feed(api, boss, viewers, query)
    before = counts(api)
    ours = await feed(api, boss, viewers, query)
    done = tuple(after - was for after, was in zip(counts(api), before, strict=True))
    return ours, theirs, (done[0], done[1], done[2])


PAGE = "{ tasks(first: 5) { edges { node { title expiresAt slots } } } }"
CARD = "subscription { taskFeed { kind task { title expiresAt slots } } }"


async def test_a_field_with_a_permission_or_an_extension_is_answered_as_strawberry_does(
    ruled_api: Api,
) -> None:
    api = ruled_api
    boss = await employer(api)
    await create(api, boss, title="Quiet title", expiresAt=EXPIRES)
    worker = await api.sign_up()

    ours, theirs = await both_ways(api, PAGE, worker.token)
    assert ours == theirs
    # The extension ran, and the permission refused the value.
    assert ours["data"]["tasks"]["edges"] == [
        {"node": {"title": "QUIET TITLE", "expiresAt": None, "slots": 2}}
    ]
    assert [(e["message"], e["path"][-1]) for e in ours["errors"]] == [
        ("Not for you.", "expiresAt")
    ]


async def test_a_shared_feed_execution_checks_permissions_and_runs_field_extensions(
    ruled_api: Api,
) -> None:
    api = ruled_api
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(2)]

    ours, theirs, done = await feed_both_ways(api, boss, workers, CARD)
    assert ours == theirs
    assert ours[0] == ours[1]
    assert ours[0]["data"] == {
        "taskFeed": {
            "kind": "POSTED",
            "task": {"title": "QUIET TITLE", "expiresAt": None, "slots": 2},
        }
    }
    assert [e["message"] for e in ours[0]["errors"]] == ["Not for you."]
    # Executed once for both (an error: handed to each generator, which sends it).
    assert done == (1, 2, 0)


class InstructionsForModerators(SchemaExtension):
    """A policy: only moderators read a task's instructions; its viewer read from the
    operation's own context, as an extension's hooks read it (`execution_context.context`)."""

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        value = _next(root, info, *args, **kwargs)
        if info.parent_type.name == "Task" and info.field_name == "instructions":
            context: Context = self.execution_context.context
            if context.viewer is None or not context.viewer.is_admin:
                return "[hidden]"
        return value


class Stamp(SchemaExtension):
    """Adds to every result, as tracing extensions add their timings (`get_results`)."""

    def get_results(self) -> dict[str, Any]:
        return {"stamp": "checked"}


@contextlib.contextmanager
def with_extension(api: Api, extension: type[SchemaExtension]) -> Iterator[None]:
    schema = view_of(api).schema
    assert isinstance(schema, strawberry.Schema)
    kept = schema.extensions
    schema.extensions = (*kept, extension)
    try:
        yield
    finally:
        schema.extensions = kept


POLICY_PAGE = "{ tasks(first: 5) { edges { node { title instructions } } } }"
POLICY_CARD = "subscription { taskFeed { kind task { title instructions } } }"


async def test_a_schema_extensions_resolve_hook_applies_to_each_feed_subscriber(
    api: Api,
) -> None:
    boss = await employer(api)
    worker, moderator = await api.sign_up(), await api.sign_up()
    await UserModel.filter(email=moderator.email).update(is_admin=True)
    with with_extension(api, InstructionsForModerators):
        ours, theirs, done = await feed_both_ways(api, boss, [worker, moderator], POLICY_CARD)
        over_http = [await both_ways(api, POLICY_PAGE, v.token) for v in (worker, moderator)]

    assert ours == theirs
    assert [p["data"]["taskFeed"]["task"]["instructions"] for p in ours] == [
        "[hidden]",
        "Watch it to the end.",
    ]
    # Over HTTP, each of them sees what their feed showed them.
    for (ours_http, theirs_http), frame in zip(over_http, ours, strict=True):
        assert ours_http == theirs_http
        node = ours_http["data"]["tasks"]["edges"][0]["node"]
        assert node["instructions"] == frame["data"]["taskFeed"]["task"]["instructions"]
    # Not grouped: each subscriber's events go strawberry's own way, none through a group's.
    assert done == (0, 0, 0)


async def test_a_schema_extensions_result_hook_reaches_every_feed_frame(api: Api) -> None:
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(2)]
    with with_extension(api, Stamp):
        ours, theirs, done = await feed_both_ways(api, boss, workers, CARD)

    assert ours == theirs
    assert [p["extensions"] for p in ours] == [{"stamp": "checked"}] * 2
    assert done == (0, 0, 0)
