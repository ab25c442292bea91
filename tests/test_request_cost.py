"""The cost of a request above the database: parse and validation once per document, limits
kept, list items completed without an await, and automatic persisted queries."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import inspect
import json
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLObjectType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from picotask.models.users import User
from picotask.schema.loaders import UserByIdLoader
from picotask.schema.prefetch import PREFETCHED, loaded, prefetch
from picotask.server.execution import LEAN, PlainFieldsExecutor
from picotask.server.graphql_view import GraphQLView
from picotask.server.persisted import PersistedQueries, PersistedQueryError
from picotask.server.plain_fields import plain_fields
from picotask.server.safety import CachedDocuments, Documents
from picotask.services.registry import Services
from tests.support import (
    GRAPHQL_RESPONSE,
    Api,
    Backend,
    count_queries,
    new_user,
    settings_for,
)
from tests.test_marketplace_api import create, employer

TASKS = """query($first: Int) { tasks(first: $first) { edges { node {
  id title category reward { amount currency } slotsRemaining employer { displayName } } } } }"""


def documents_of(api: Api) -> Documents:
    """The schema's one `Documents`, as its extension factories hold it."""
    for route in api.server.app.routes:
        view = getattr(route, "app", None)
        endpoint = getattr(route, "endpoint", None)
        for candidate in (view, endpoint):
            if isinstance(candidate, GraphQLView):
                # `extensions` is on strawberry's Schema, not on the BaseSchema the view types.
                for factory in candidate.schema.extensions:  # type: ignore[attr-defined]
                    if isinstance(factory, functools.partial) and factory.func is CachedDocuments:
                        documents: Documents = factory.args[0]
                        return documents
    raise AssertionError("no CachedDocuments extension")


def counts(documents: Documents) -> tuple[int, int, int]:
    return documents.parses, documents.validations, documents.literal_checks


async def test_parse_and_validation_run_once_per_distinct_document(api: Api) -> None:
    worker = await api.sign_up()
    documents = documents_of(api)
    before = counts(documents)
    for first in (1, 2, 3, 4, 5):  # variables differ; the document does not
        await api.gql(TASKS, {"first": first}, worker.token)
    assert counts(documents) == (before[0] + 1, before[1] + 1, before[2] + 1)
    await api.gql("{ me { id } }", None, worker.token)
    await api.gql("{ me { id } }", None, worker.token)
    assert counts(documents) == (before[0] + 2, before[1] + 2, before[2] + 2)


def deep_query(levels: int) -> str:
    """`mySubmissions` then `task { submissions { edges { node` again and again."""
    inner = "id"
    for _ in range(levels):
        inner = f"task {{ submissions(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ mySubmissions(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (deep_query(3), "exceeds maximum operation depth"),
        ("{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }", "aliases"),
        ("{ me { " + "id " * 2_100 + "} }", "token"),
        ('{ tasks(filter: {search: "a\\u0000b"}) { totalCount } }', "NUL"),
    ],
)
async def test_every_limit_still_refuses_every_time(api: Api, document: str, words: str) -> None:
    """A refusal is cached with its document, and answered again on every request."""
    worker = await api.sign_up()
    for _ in range(3):
        response = await api.post(document, token=worker.token)
        assert response.status_code == 400
        messages = " ".join(e["message"] for e in response.json()["errors"])
        assert words.lower() in messages.lower(), messages


async def test_within_the_limits_the_deep_query_runs(api: Api) -> None:
    worker = await api.sign_up()
    assert (await api.gql(deep_query(2), None, worker.token))["mySubmissions"]["edges"] == []


async def test_a_page_of_tasks_loads_its_employers_in_one_query_without_awaits(
    api: Api,
) -> None:
    bosses = [await employer(api) for _ in range(3)]
    for boss in bosses:
        for _ in range(2):
            await create(api, boss)
    worker = await api.sign_up()
    with count_queries() as counter:
        data = await api.gql(TASKS, {"first": 20}, worker.token)
    names = {e["node"]["employer"]["displayName"] for e in data["tasks"]["edges"]}
    assert len(data["tasks"]["edges"]) == 6
    assert len(names) == 1  # every employer signed up as "Tester"
    from_users = [s for s in counter.statements if 'FROM "users"' in s]
    assert len(from_users) == 1, from_users

    # Through a fragment the employers are still prefetched; without them, not loaded at all.
    fragment = """query { tasks { edges { node { ...card } } } }
      fragment card on Task { id employer { displayName } }"""
    with count_queries() as counter:
        await api.gql(fragment, None, worker.token)
    assert len([s for s in counter.statements if 'FROM "users"' in s]) == 1
    with count_queries() as counter:
        await api.gql("{ tasks { edges { node { id title } } } }", None, worker.token)
    assert not [s for s in counter.statements if 'FROM "users"' in s]


async def test_an_employer_not_prefetched_is_still_loaded(api: Api) -> None:
    boss = await employer(api)
    task_id = (await create(api, boss))["task"]["id"]
    worker = await api.sign_up()
    query = "query($id: ID!) { task(id: $id) { employer { displayName } } }"
    data = await api.gql(query, {"id": task_id}, worker.token)
    assert data["task"]["employer"]["displayName"] == "Tester"


# Automatic persisted queries.


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    headers = {"accept": GRAPHQL_RESPONSE}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json=body, headers=headers)


def error_code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_a_hash_alone_runs_once_its_text_was_sent(api: Api) -> None:
    user = await api.sign_up()
    text = "{ me { id email } } # " + secrets.token_hex(4)
    unknown = await post(api.client, {"extensions": apq(text)}, user.token)
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert error_code(unknown) == "PERSISTED_QUERY_NOT_FOUND"

    first = await post(api.client, {"query": text, "extensions": apq(text)}, user.token)
    assert first.json()["data"] == {"me": {"id": user.id, "email": user.email}}
    again = await post(api.client, {"extensions": apq(text)}, user.token)
    assert again.json()["data"] == first.json()["data"]

    # Over GET, as Apollo Client's `useGETForHashedQueries` and urql send it.
    params = {"extensions": json.dumps(apq(text))}
    headers = {"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {user.token}"}
    got = await api.client.get("/graphql", params=params, headers=headers)
    assert got.status_code == 200
    assert got.json()["data"] == first.json()["data"]


async def test_a_stored_mutation_does_not_run_over_get(api: Api) -> None:
    text = 'mutation { logIn(input: {email: "a@b.co", password: "x"}) { token } }'
    await post(api.client, {"query": text, "extensions": apq(text)})
    got = await api.client.get(
        "/graphql",
        params={"extensions": json.dumps(apq(text))},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert got.status_code in {400, 405}
    assert "data" not in got.json()


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 1, "sha256Hash": sha256("{ me { email } }")}},
        {"persistedQuery": {"version": 2, "sha256Hash": sha256("{ me { id } }")}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not a hash"}},
        {"persistedQuery": "yes"},
    ],
)
async def test_a_wrong_hash_or_version_is_refused(api: Api, extensions: dict[str, Any]) -> None:
    response = await post(api.client, {"query": "{ me { id } }", "extensions": extensions})
    assert response.status_code == 400
    assert error_code(response) == "BAD_USER_INPUT"
    assert "data" not in response.json()
    # Nothing was stored under the hash that came with the wrong text.
    assert error_code(await post(api.client, {"extensions": extensions})) in {
        "PERSISTED_QUERY_NOT_FOUND",
        "BAD_USER_INPUT",
    }
    hashed = extensions.get("persistedQuery")
    if isinstance(hashed, dict) and hashed.get("version") == 1 and len(hashed["sha256Hash"]) == 64:
        assert error_code(await post(api.client, {"extensions": extensions})) == (
            "PERSISTED_QUERY_NOT_FOUND"
        )


@contextlib.asynccontextmanager
async def another_instance(api: Api) -> AsyncIterator[str]:
    """`picotask serve` in its own process (one process holds one ORM): its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = api.services.settings
    env = {
        **os.environ,
        "PICOTASK_DATABASE_URL": settings.database_url,
        "PICOTASK_BROADCAST_URL": settings.broadcast_url,
        "PICOTASK_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "PICOTASK_PORT": str(port),
        "PICOTASK_BACKGROUND_WORKERS": "false",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "picotask.server.cli",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):  # bounded: start-up takes a few seconds at most
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_instances_sharing_redis_share_the_store(api: Api, backend: Backend) -> None:
    if not backend.broadcast.startswith("redis"):
        pytest.skip("one instance only: the store is shared through Redis")
    text = "{ me { id } } # " + secrets.token_hex(4)
    async with (
        another_instance(api) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as second,
    ):
        assert error_code(await post(second, {"extensions": apq(text)})) == (
            "PERSISTED_QUERY_NOT_FOUND"
        )
        stored = await post(api.client, {"query": text, "extensions": apq(text)})
        assert stored.json()["data"] == {"me": None}
        shared = await post(second, {"extensions": apq(text)})
        assert shared.status_code == 200, shared.json()
        assert shared.json()["data"] == {"me": None}


async def test_the_store_is_bounded() -> None:
    settings = settings_for(
        "sqlite://unused", "memory://", persisted_queries_size=2, persisted_query_max_chars=40
    )
    persisted = PersistedQueries(settings)
    texts = [f"{{ me {{ id }} }} # {n}" for n in range(3)]
    for text in texts:
        assert await persisted.query_for(text, apq(text)) == text
    with pytest.raises(PersistedQueryError):  # the oldest made room
        await persisted.query_for(None, apq(texts[0]))
    assert await persisted.query_for(None, apq(texts[2])) == texts[2]

    long = "{ me { id } }" + " " * 40
    assert await persisted.query_for(long, apq(long)) == long  # runs, but is not kept
    with pytest.raises(PersistedQueryError):
        await persisted.query_for(None, apq(long))


async def test_a_loaded_row_converts_at_once_even_though_models_are_awaitable(
    services: Services,
) -> None:
    user = await new_user(services)
    loader = UserByIdLoader()
    await prefetch(loader, [user.id, user.id])
    view = loaded(loader, user.id, lambda u: u)
    assert not inspect.iscoroutine(view)  # the row itself, converted at once
    assert isinstance(view, User)
    assert view.id == user.id
    pending = loaded(UserByIdLoader(), user.id, lambda u: u)
    assert inspect.iscoroutine(pending)  # not loaded yet: the loader's batch brings it
    assert await pending == user


# Plain fields completed at once (server/execution.py): the same answers as graphql-core's.

WIDE = """query($first: Int, $no: Boolean!) {
  tasks(first: $first) { pageInfo { hasNextPage endCursor } edges { cursor node {
    __typename ...card title2: title status slots fee { amount currency } proofFields { label
    kind required } targeting { countries minApprovalRate minApprovedCount } createdAt
    publishedAt expiresAt closedAt secret: instructions @include(if: $no)
    employer { id displayName country skills bio createdAt avatarUrl } } } }
  me { id email displayName wallet { available { amount currency } inEscrow { amount } } }
}
fragment card on Task { id title category reward { amount currency } slotsRemaining }"""
REVIEW = """{ myTasks(first: 5) { edges { node { id title status slotsRemaining
  submissions(first: 5) { totalCount edges { node { id status submittedAt
  worker { displayName } } } } } } } }"""


@contextlib.contextmanager
def strawberry_execution(api: Api) -> Iterator[None]:
    """The app's schema executing as strawberry and graphql-core do without our fast paths."""
    schema = view_of(api).schema
    ours = schema.execution_context_class  # type: ignore[attr-defined]  # strawberry's Schema
    swapped = []
    for named in schema._schema.type_map.values():  # type: ignore[attr-defined]  # as above
        if isinstance(named, GraphQLObjectType):
            for field in named.fields.values():
                if LEAN in field.extensions:
                    swapped.append((field, field.resolve))
                    field.resolve = field.extensions[LEAN]
    assert swapped, "no field has a lean resolver"
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext  # type: ignore[attr-defined]  # as above
    try:
        yield
    finally:
        schema.execution_context_class = ours  # type: ignore[attr-defined]  # as above
        for field, lean in swapped:
            field.resolve = lean


def view_of(api: Api) -> GraphQLView:
    for route in api.server.app.routes:
        for candidate in (getattr(route, "app", None), getattr(route, "endpoint", None)):
            if isinstance(candidate, GraphQLView):
                return candidate
    raise AssertionError("no GraphQL view")


async def test_plain_fields_answer_as_graphql_core_answers(api: Api) -> None:
    boss = await employer(api)
    for _ in range(3):
        await create(api, boss)
    worker = await api.sign_up()
    task_id = (await api.gql("{ tasks(first: 1) { edges { node { id } } } }", None, worker.token))[
        "tasks"
    ]["edges"][0]["node"]["id"]
    await api.gql(
        "mutation($i: ClaimTaskInput!) { claimTask(input: $i) { userErrors { message } } }",
        {"i": {"taskId": task_id}},
        worker.token,
    )
    assert issubclass(view_of(api).schema.execution_context_class, PlainFieldsExecutor)  # type: ignore[attr-defined]  # strawberry's Schema
    asked = [
        (WIDE, {"first": 3, "no": False}, worker.token),
        (WIDE, {"first": 2, "no": True}, worker.token),
        (TASKS, {"first": 20}, worker.token),
        (REVIEW, None, boss.token),
        ("{ tasks(first: -1) { edges { node { id } } } }", None, worker.token),  # an error
        ("{ me { id } tasks { totalCount } }", None, None),  # not signed in: errors, no data
    ]

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        body.pop("extensions", None)  # the budget left differs from one request to the next
        return body

    ours = [answer((await api.post(q, v, t)).json()) for q, v, t in asked]
    with strawberry_execution(api):
        theirs = [answer((await api.post(q, v, t)).json()) for q, v, t in asked]
    assert ours == theirs
    assert ours[0]["data"]["tasks"]["edges"][0]["node"]["employer"]["displayName"] == "Tester"
    assert "secret" in ours[1]["data"]["tasks"]["edges"][0]["node"]
    assert ours[4]["errors"]
    assert ours[5]["errors"]


# A schema of its own, for what no field of the API does (at module level: strawberry
# resolves its annotations there).


@strawberry.type
class Amount:
    value: int
    unit: str


@strawberry.type
class Item:
    name: str
    size: int
    amount: Amount | None
    must: Amount


@strawberry.type
class Odd:
    @strawberry.field
    def items(self) -> list[Item | None]:
        huge = 2**40  # beyond GraphQL's Int
        bad = Amount(value=None, unit="x")  # type: ignore[arg-type]  # the case under test
        return [
            Item(
                name="fine",
                size=1,
                amount=Amount(value=2, unit="kg"),
                must=Amount(value=3, unit="m"),
            ),
            Item(name=None, size=1, amount=None, must=Amount(value=3, unit="m")),  # type: ignore[arg-type]  # as above
            Item(name="big", size=huge, amount=bad, must=Amount(value=3, unit="m")),
            Item(name="deep", size=1, amount=None, must=bad),
        ]


@strawberry.type
class Shelf:
    items: list[Item]
    maybe: list[Item | None]


def shelf(items: list[Item], maybe: list[Item | None]) -> Shelf:
    return Shelf(items=items, maybe=maybe)


RESOLVED: list[int] = []  # calls of Boxed.amount's resolver


def resolved_amount() -> Amount:
    RESOLVED.append(1)
    return Amount(value=7, unit="resolved")


@strawberry.type
class Boxed:
    attached: strawberry.Private[Amount | None] = None
    amount: Amount = strawberry.field(resolver=resolved_amount, metadata={PREFETCHED: "attached"})


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tag(Named):
    size: int


@strawberry.type
class Label:
    tag: Tag | None
    tags: list[Tag]


def fine(name: str = "fine") -> Item:
    return Item(name=name, size=1, amount=None, must=Amount(value=3, unit="m"))


@strawberry.type
class Shelves:
    @strawberry.field
    def shelves(self) -> list[Shelf | None]:
        bad = Amount(value=None, unit="x")  # type: ignore[arg-type]  # the case under test
        nameless = Item(name=None, size=1, amount=None, must=bad)  # type: ignore[arg-type]  # as above
        half = Item(name="half", size=1, amount=bad, must=Amount(value=3, unit="m"))
        return [
            shelf([fine("a"), fine("b")], [fine("c"), half, nameless]),  # errors under items
            shelf([fine("d"), nameless], []),  # a non-null item fails: the whole shelf is null
            shelf([], [fine("e"), None]),  # a null item: graphql-core's own path
        ]

    @strawberry.field
    def labels(self) -> list[Label | None]:
        wrong = Item(name="not a tag", size=1, amount=None, must=Amount(value=3, unit="m"))
        return [
            Label(tag=Tag(name="ok", size=1), tags=[Tag(name="a", size=2)]),
            Label(tag=wrong, tags=[Tag(name="b", size=3)]),  # type: ignore[arg-type]  # the case under test
            Label(tag=None, tags=[Tag(name="c", size=4), wrong]),  # type: ignore[list-item]  # as above
        ]

    @strawberry.field
    def boxes(self) -> list[Boxed]:
        return [Boxed(attached=Amount(value=1, unit="attached")), Boxed()]


async def test_plain_lists_keep_graphql_cores_errors() -> None:
    """Lists of objects held as attributes complete item by item as graphql-core completes
    them: a failing non-null item nulls its list's nearest nullable parent, a failing
    nullable one only itself, and a list with a null item goes graphql-core's own way."""
    query = """{ shelves { items { name must { value } } maybe { name amount { value }
      must { value unit } } }
      labels { tag { name size } tags { name size } } }"""
    ours = await strawberry.Schema(Shelves, execution_context_class=PlainFieldsExecutor).execute(
        query
    )
    theirs = await strawberry.Schema(
        Shelves, execution_context_class=StrawberryGraphQLCoreExecutionContext
    ).execute(query)
    assert ours.data == theirs.data
    assert ours.data is not None
    first, second, third = ours.data["shelves"]
    assert [i["name"] for i in first["items"]] == ["a", "b"]
    assert first["maybe"][1] == {"name": "half", "amount": None, "must": {"value": 3, "unit": "m"}}
    assert first["maybe"][2] is None
    assert second is None
    assert third["maybe"][1] is None
    assert sorted((e.message, e.path) for e in ours.errors or ()) == sorted(
        (e.message, e.path) for e in theirs.errors or ()
    )
    # An object type with an interface is checked as graphql-core checks it (is_type_of).
    assert ours.data["labels"][0] == {
        "tag": {"name": "ok", "size": 1},
        "tags": [{"name": "a", "size": 2}],
    }
    assert ours.data["labels"][1]["tag"] is None
    assert ours.data["labels"][2] is None
    assert len(ours.errors or ()) == 5
    # ... and they were the fast path's: these lists are plain lists of objects.
    graphql_schema = strawberry.Schema(Shelves)._schema
    shelf_type, label_type = graphql_schema.type_map["Shelf"], graphql_schema.type_map["Label"]
    assert isinstance(shelf_type, GraphQLObjectType)
    assert isinstance(label_type, GraphQLObjectType)
    lists = {id(p.field) for p in plain_fields(graphql_schema).values() if p.item is not None}
    expected = [shelf_type.fields["items"], shelf_type.fields["maybe"], label_type.fields["tags"]]
    assert lists == {id(field) for field in expected}


async def test_an_attached_value_is_read_without_its_resolver() -> None:
    """A field naming a `PREFETCHED` attribute reads it when a list resolver set it, and
    runs its resolver when not (graphql-core's executor always runs the resolver)."""
    RESOLVED.clear()
    query = "{ boxes { amount { value unit } } }"
    ours = await strawberry.Schema(Shelves, execution_context_class=PlainFieldsExecutor).execute(
        query
    )
    assert ours.errors is None
    assert ours.data == {
        "boxes": [
            {"amount": {"value": 1, "unit": "attached"}},
            {"amount": {"value": 7, "unit": "resolved"}},
        ]
    }
    assert len(RESOLVED) == 1


async def test_plain_fields_keep_graphql_cores_errors() -> None:
    """Null where none may be, a value the scalar refuses, an error under a nullable object:
    the same data and errors as graphql-core's own executor (a schema of its own: the API has
    no field that does these)."""
    query = "{ items { name size amount { value unit } must { value unit } } }"
    ours = await strawberry.Schema(Odd, execution_context_class=PlainFieldsExecutor).execute(query)
    theirs = await strawberry.Schema(
        Odd, execution_context_class=StrawberryGraphQLCoreExecutionContext
    ).execute(query)
    assert ours.data == theirs.data
    assert ours.data is not None
    assert ours.data["items"][0]["amount"] == {"value": 2, "unit": "kg"}
    assert ours.data["items"][1:] == [None, None, None]

    def described(errors: Any) -> list[tuple[str, Any]]:
        return sorted((e.message, e.path) for e in errors or ())

    assert described(ours.errors) == described(theirs.errors)
    messages = [m for m, _ in described(ours.errors)]
    assert "Cannot return null for non-nullable field Item.name." in messages
    assert "Cannot return null for non-nullable field Amount.value." in messages
    assert any("non-integer" in m or "32-bit" in m for m in messages), messages
