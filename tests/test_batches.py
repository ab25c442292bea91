"""Batches through the API (and their claim race through the services): a task template over a
file of items, one slot per item, funded in one posting; bad files; authorization."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from typing import Any

import httpx
import pytest

from picotask.models.batches import TaskItem
from picotask.models.ledger import LedgerTransaction, TransactionKind
from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.schema.relay import from_global_id
from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import ErrorCode
from picotask.services.registry import Services
from picotask.services.work.batch_files import ItemSource
from tests.support import (
    Api,
    Backend,
    LiveServer,
    User,
    assert_escrow_matches,
    assert_ledger_balanced,
    count_queries,
    funded_user,
    new_user,
    next_data,
    nothing_more,
    refusal,
    settings_for,
    task_spec,
)
from tests.test_marketplace_api import APPROVE, SUBMIT, employer

CREATE_BATCH = """mutation($input: CreateBatchInput!) { createBatch(input: $input) {
  task { id status slots slotsRemaining batch { columns progress { items free claimed
         submitted approved } } }
  userErrors { field message code } } }"""
ADD_ITEMS = """mutation($input: AddBatchItemsInput!) { addBatchItems(input: $input) {
  task { slots slotsRemaining batch { progress { items free } } }
  userErrors { field message code } } }"""
CLAIMED = """mutation($id: ID!) { claimTask(input: {taskId: $id}) {
  submission { id instructions item { position data { column value } } }
  userErrors { field code } } }"""
EXPORT = "query($id: ID!) { batchResultsCsv(taskId: $id) }"
BALANCE = "{ me { balance { amount } } }"
ACTION = """mutation($id: ID!) { %s(input: {taskId: $id}) { task { status slotsRemaining }
  userErrors { field code } } }"""
FEED = "subscription { taskFeed { kind task { id slots batch { columns } } } }"

CSV = "url,name\r\nhttps://example.com/a_b,Alice *bold*\r\nhttps://example.com/2,Bob\r\n"
INSTRUCTIONS = "Review {{ url }} and greet {{name}}."


def batch_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Review a page",
        "instructions": INSTRUCTIONS,
        "category": "REVIEW",
        "reward": "0.20",
        "estimatedMinutes": 2,
        "proofFields": [{"label": "Verdict", "kind": "TEXT"}],
        "csv": CSV,
    }
    values.update(overrides)
    return {"input": values}


async def create_batch(api: Api, boss: User, **overrides: Any) -> dict[str, Any]:
    data = await api.gql(CREATE_BATCH, batch_input(**overrides), boss.token)
    payload: dict[str, Any] = data["createBatch"]
    return payload


async def balance(api: Api, user: User) -> str:
    amount: str = (await api.gql(BALANCE, token=user.token))["me"]["balance"]["amount"]
    return amount


async def escrow_postings(task_pk: int) -> int:
    return await LedgerTransaction.filter(kind=TransactionKind.ESCROW_FUND, task_id=task_pk).count()


def pk_of(global_id: str) -> int:
    parsed = from_global_id(global_id)
    assert parsed is not None
    return parsed[1]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_a_batch_from_csv_to_exported_results(api: Api) -> None:
    boss = await employer(api, "10.00")
    payload = await create_batch(api, boss)
    assert payload["userErrors"] == []
    task = payload["task"]
    assert (task["status"], task["slots"], task["slotsRemaining"]) == ("OPEN", 2, 2)
    assert task["batch"] == {
        "columns": ["url", "name"],
        "progress": {"items": 2, "free": 2, "claimed": 0, "submitted": 0, "approved": 0},
    }
    # Both items funded at once: 2 x (0.20 + 0.02 fee), one posting.
    assert await balance(api, boss) == "9.56"
    pk = int(pk_of(task["id"]))
    assert await escrow_postings(pk) == 1
    await assert_escrow_matches(pk)

    alice, bob = await api.sign_up(), await api.sign_up()
    first = (await api.gql(CLAIMED, {"id": task["id"]}, alice.token))["claimTask"]
    assert first["userErrors"] == []
    sub = first["submission"]
    assert sub["item"] == {
        "position": 1,
        "data": [
            {"column": "url", "value": "https://example.com/a_b"},
            {"column": "name", "value": "Alice *bold*"},
        ],
    }
    # The values are plain text inside the markdown: their markup characters are escaped.
    assert sub["instructions"] == r"Review https://example.com/a\_b and greet Alice \*bold\*."
    second = (await api.gql(CLAIMED, {"id": task["id"]}, bob.token))["claimTask"]["submission"]
    assert second["item"]["position"] == 2
    assert second["instructions"] == "Review https://example.com/2 and greet Bob."

    answers = [{"label": "Verdict", "value": "=HYPERLINK(1)"}]
    await api.gql(SUBMIT, {"id": sub["id"], "answers": answers}, alice.token)
    await api.gql(APPROVE, {"id": sub["id"]}, boss.token)
    progress = await api.gql(TASK_PROGRESS, {"id": task["id"]}, boss.token)
    assert progress["node"]["batch"]["progress"] == {
        "items": 2,
        "free": 0,
        "claimed": 1,
        "submitted": 0,
        "approved": 1,
    }

    exported = (await api.gql(EXPORT, {"id": task["id"]}, boss.token))["batchResultsCsv"]
    lines = rows_of(exported)
    assert lines[0] == [
        "item",
        "url",
        "name",
        "status",
        "worker",
        "submission",
        "submitted_at",
        "reviewed_at",
        "decided_by",
        "gold_correct",
        "too_fast",
        "agreement",
        "Verdict",
    ]
    assert lines[1][:6] == [
        "1",
        "https://example.com/a_b",
        "Alice *bold*",
        "APPROVED",
        alice.id,
        sub["id"],
    ]
    assert lines[1][6]
    assert lines[1][7]
    assert lines[1][8:12] == ["MANUAL", "", "false", ""]  # no gold, no policy
    assert lines[1][12] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert lines[2][:6] == ["2", "https://example.com/2", "Bob", "CLAIMED", bob.id, second["id"]]
    assert lines[2][8:] == ["", "", "", "", ""]
    assert len(lines) == 3
    await assert_escrow_matches(pk)
    await assert_ledger_balanced()


TASK_PROGRESS = """query($id: ID!) { node(id: $id) { ... on Task { batch { progress {
  items free claimed submitted approved } } } } }"""


async def test_the_live_feed_shows_a_batch_once(api: Api) -> None:
    boss = await employer(api, "100.00")
    worker = await api.sign_up()
    many = "word\n" + "".join(f"w{i}\n" for i in range(50))
    async with api.ws(worker.token) as ws:
        await ws.subscribe("feed", FEED)
        task = (await create_batch(api, boss, csv=many, instructions="Say {{word}}."))["task"]
        posted = (await next_data(ws, "feed"))["taskFeed"]
        assert posted == {
            "kind": "POSTED",
            "task": {"id": task["id"], "slots": 50, "batch": {"columns": ["word"]}},
        }
        assert await nothing_more(ws)
    await assert_escrow_matches(pk_of(task["id"]))
    await assert_ledger_balanced()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


BAD_FILES: list[tuple[dict[str, Any], ErrorCode, list[str], str]] = [
    (
        {"csv": "url,name\nhttps://a,Ann\nhttps://b\n"},
        ErrorCode.INVALID,
        ["csv", "2", "name"],
        "column name is missing",
    ),
    ({"csv": "url,name\nhttps://a,Ann,extra\n"}, ErrorCode.INVALID, ["csv", "1", "#3"], "is extra"),
    ({"csv": "url\nhttps://a\n"}, ErrorCode.INVALID, ["instructions"], "{{name}}"),
    ({"csv": ""}, ErrorCode.REQUIRED, ["csv"], "empty"),
    ({"csv": "url,name\n"}, ErrorCode.REQUIRED, ["csv"], "no items"),
    (
        {"csvBase64": _b64(b"url,name\nhttps://a,Ann\nhttps://b,J\xe9r\xf4me\n")},
        ErrorCode.INVALID,
        ["csvBase64", "2", "name"],
        "Row 2, column name is not valid UTF-8 (byte 0xe9)",
    ),
    (
        {"csvBase64": _b64(b"url,n\xe4me\nhttps://a,Ann\n")},
        ErrorCode.INVALID,
        ["csvBase64", "0", "#2"],
        "Column 2 of the header is not valid UTF-8 (byte 0xe4)",
    ),
    (
        {"csv": "url,name\nhttps://a,J\ufffdr\n"},
        ErrorCode.INVALID,
        ["csv", "1", "name"],
        "broken encoding",
    ),
    ({"csv": "url,url\nhttps://a,b\n"}, ErrorCode.DUPLICATE, ["csv", "0", "url"], "twice"),
    (
        {"json": '[{"url": "https://a", "name": "Ann"}, {"url": "https://b"}]'},
        ErrorCode.INVALID,
        ["json", "2", "name"],
        "Row 2: name is missing",
    ),
    (
        {"json": '[{"url": "https://a", "name": "Ann"}, {"url": "b", "name": "B", "age": 3}]'},
        ErrorCode.INVALID,
        ["json", "2", "age"],
        "Row 2: age is not a column of row 1",
    ),
    ({"json": "[1, 2"}, ErrorCode.INVALID, ["json"], "not valid JSON"),
    # Nesting is bounded as in every JSON the server reads (MAX_JSON_DEPTH), however deep.
    ({"json": "[" * 1500 + "]" * 1500}, ErrorCode.INVALID, ["json"], "nested deeper than 32"),
    (
        {"json": '[{"url": "u", "name": ' + "[" * 40 + "]" * 40 + "}]"},
        ErrorCode.INVALID,
        ["json"],
        "nested deeper than 32",
    ),
    # Not JSON (Python's json reads them), nor a number any float holds.
    ({"json": '[{"url": "u", "name": NaN}]'}, ErrorCode.INVALID, ["json"], "NaN is not a JSON"),
    ({"json": '[{"url": "u", "name": -Infinity}]'}, ErrorCode.INVALID, ["json"], "Infinity"),
    ({"json": '[{"url": "u", "name": 1e999}]'}, ErrorCode.INVALID, ["json"], "1e999 is not a fin"),
    (
        {"json": '[{"url": "u", "name": true}]'},
        ErrorCode.INVALID,
        ["json", "1", "name"],
        "a string or a number",
    ),
    ({"csv": "url,name\nhttps://a,Ann\n", "json": "[]"}, ErrorCode.INVALID, [], "exactly one"),
]


@pytest.mark.parametrize(("source", "code", "field", "message"), BAD_FILES)
async def test_bad_files_are_refused_whole_and_write_nothing(
    api: Api, source: dict[str, Any], code: ErrorCode, field: list[str], message: str
) -> None:
    boss = await employer(api, "10.00")
    overrides: dict[str, Any] = {"csv": None, **source}
    payload = await create_batch(api, boss, **overrides)
    assert payload["task"] is None
    error = payload["userErrors"][0]
    assert (error["code"], error["field"]) == (code.value, ["input", *field]), error
    assert message in error["message"]
    assert await Task.all().count() == 0
    assert await TaskItem.all().count() == 0
    assert await balance(api, boss) == "10.00"


async def test_json_numbers_are_kept_as_the_client_wrote_them(api: Api) -> None:
    boss = await employer(api, "10.00")
    items = '[{"url": 1.50, "name": 1e5}, {"url": -0, "name": 12345678901234567890123}]'
    task = (await create_batch(api, boss, csv=None, json=items))["task"]
    rows = await TaskItem.filter(task_id=pk_of(task["id"])).order_by("position")
    assert [i.data for i in rows] == [
        {"url": "1.50", "name": "1e5"},
        {"url": "-0", "name": "12345678901234567890123"},
    ]


async def test_a_label_like_a_formula_is_no_formula_in_the_header(api: Api) -> None:
    boss = await employer(api, "10.00")
    label = '=HYPERLINK("https://evil.example","Verdict")'
    task = (await create_batch(api, boss, proofFields=[{"label": label, "kind": "TEXT"}]))["task"]
    text = (await api.gql(EXPORT, {"id": task["id"]}, boss.token))["batchResultsCsv"]
    header = next(csv.reader(io.StringIO(text)))
    assert header[-1] == "'" + label


async def test_an_unfundable_batch_is_refused_whole(api: Api) -> None:
    boss = await employer(api, "0.40")  # two items need 0.44
    payload = await create_batch(api, boss)
    assert [e["code"] for e in payload["userErrors"]] == ["INSUFFICIENT_FUNDS"]
    assert await Task.all().count() == 0
    assert await TaskItem.all().count() == 0
    assert await balance(api, boss) == "0.40"
    await assert_ledger_balanced()


async def test_pause_resume_cancel_refund_what_was_never_done(api: Api) -> None:
    boss = await employer(api, "10.00")
    four = "url,name\n" + "".join(f"https://x/{i},N{i}\n" for i in range(4))
    task = (await create_batch(api, boss, csv=four))["task"]
    pk = pk_of(task["id"])
    worker, late = await api.sign_up(), await api.sign_up()
    sub = (await api.gql(CLAIMED, {"id": task["id"]}, worker.token))["claimTask"]["submission"]
    paused = (await api.gql(ACTION % "pauseTask", {"id": task["id"]}, boss.token))["pauseTask"]
    assert paused["task"]["status"] == "PAUSED"
    refused = (await api.gql(CLAIMED, {"id": task["id"]}, late.token))["claimTask"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_STATUS"]
    await api.gql(ACTION % "resumeTask", {"id": task["id"]}, boss.token)
    await assert_escrow_matches(pk)

    cancelled = await api.gql(ACTION % "cancelTask", {"id": task["id"]}, boss.token)
    assert cancelled["cancelTask"]["task"] == {"status": "CANCELLED", "slotsRemaining": 0}
    # Three items never claimed come back (3 x 0.22); the claimed one is still held.
    assert await balance(api, boss) == "9.78"
    await assert_escrow_matches(pk)
    await api.gql(
        SUBMIT, {"id": sub["id"], "answers": [{"label": "Verdict", "value": "ok"}]}, worker.token
    )
    await api.gql(APPROVE, {"id": sub["id"]}, boss.token)
    await assert_escrow_matches(pk)
    await assert_ledger_balanced()


async def test_items_are_added_funded_with_the_batch_columns(api: Api) -> None:
    boss = await employer(api, "10.00")
    task = (await create_batch(api, boss))["task"]
    more = {"taskId": task["id"], "csv": "name,url\nCid,https://c\nDee,https://d\n"}
    added = (await api.gql(ADD_ITEMS, {"input": more}, boss.token))["addBatchItems"]
    assert added["userErrors"] == []
    assert added["task"]["slots"] == 4
    assert added["task"]["batch"]["progress"] == {"items": 4, "free": 4}
    assert await balance(api, boss) == "9.12"
    items = await TaskItem.filter(task_id=pk_of(task["id"])).order_by("position")
    assert [(i.position, i.data["name"]) for i in items] == [
        (1, "Alice *bold*"),
        (2, "Bob"),
        (3, "Cid"),
        (4, "Dee"),
    ]
    await assert_escrow_matches(pk_of(task["id"]))

    wrong = {"taskId": task["id"], "csv": "url,nick\nhttps://e,E\n"}
    refused = (await api.gql(ADD_ITEMS, {"input": wrong}, boss.token))["addBatchItems"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID", ["input", "csv", "0", "name"]),
        ("INVALID", ["input", "csv", "0", "nick"]),
    ]
    slots = """mutation($id: ID!) { addSlots(input: {taskId: $id, count: 1}) {
      userErrors { code } } }"""
    assert (await api.gql(slots, {"id": task["id"]}, boss.token))["addSlots"]["userErrors"] == [
        {"code": "INVALID"}
    ]
    rival = await employer(api, "10.00")
    errors = await api.errors(ADD_ITEMS, {"input": more}, rival.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await TaskItem.filter(task_id=pk_of(task["id"])).count() == 4
    await assert_escrow_matches(pk_of(task["id"]))
    await assert_ledger_balanced()


async def test_only_the_employer_sees_progress_and_results(api: Api) -> None:
    boss = await employer(api, "10.00")
    task = (await create_batch(api, boss))["task"]
    worker = await api.sign_up()
    errors = await api.errors(EXPORT, {"id": task["id"]}, worker.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    seen = await api.gql(TASK_PROGRESS, {"id": task["id"]}, worker.token)
    assert seen["node"]["batch"]["progress"] is None
    plain = (
        await api.gql(
            """mutation { createTask(input: {title: "t", instructions: "i", category: OTHER,
        reward: "0.10", slots: 1, estimatedMinutes: 1, proofFields: [{label: "a", kind: TEXT}]})
        { task { id batch { columns } } } }""",
            token=boss.token,
        )
    )["createTask"]["task"]
    assert plain["batch"] is None
    errors = await api.errors(EXPORT, {"id": plain["id"]}, boss.token)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    await assert_escrow_matches(pk_of(task["id"]))
    await assert_ledger_balanced()


async def test_a_freed_or_reopened_item_is_offered_again(api: Api) -> None:
    boss = await employer(api, "10.00")
    task = (await create_batch(api, boss))["task"]
    first, second, third = [await api.sign_up() for _ in range(3)]
    sub = (await api.gql(CLAIMED, {"id": task["id"]}, first.token))["claimTask"]["submission"]
    release = """mutation($id: ID!) { releaseClaim(input: {submissionId: $id}) {
      submission { status } } }"""
    await api.gql(release, {"id": sub["id"]}, first.token)
    again = (await api.gql(CLAIMED, {"id": task["id"]}, second.token))["claimTask"]["submission"]
    assert again["item"]["position"] == 1
    await api.gql(
        SUBMIT, {"id": again["id"], "answers": [{"label": "Verdict", "value": "no"}]}, second.token
    )
    reject = """mutation($id: ID!) { rejectSubmission(input: {submissionId: $id,
      reason: WRONG_PROOF, comment: "No", reopenSlot: true}) { userErrors { code } } }"""
    assert (await api.gql(reject, {"id": again["id"]}, boss.token))["rejectSubmission"] == {
        "userErrors": []
    }
    retry = (await api.gql(CLAIMED, {"id": task["id"]}, third.token))["claimTask"]["submission"]
    assert retry["item"]["position"] == 1  # the rejected item, funded again
    await assert_escrow_matches(pk_of(task["id"]))
    await assert_ledger_balanced()


async def test_myTasks_with_progress_costs_the_same_for_any_number_of_batches(api: Api) -> None:
    boss = await employer(api, "100.00")
    for _ in range(6):
        await create_batch(api, boss)
    query = """query($first: Int) { myTasks(first: $first) { edges { node {
      id batch { columns progress { items free } } } } } }"""
    with count_queries() as few:
        await api.gql(query, {"first": 2}, boss.token)
    with count_queries() as many:
        data = await api.gql(query, {"first": 6}, boss.token)
    assert len(data["myTasks"]["edges"]) == 6
    assert many.count == few.count, many.statements
    worker = await api.sign_up()
    for edge in data["myTasks"]["edges"]:
        await api.gql(CLAIMED, {"id": edge["node"]["id"]}, worker.token)
    mine = """query($first: Int) { mySubmissions(first: $first) { edges { node {
      instructions item { position data { value } } } } } }"""
    with count_queries() as few:
        await api.gql(mine, {"first": 2}, worker.token)
    with count_queries() as many:
        data = await api.gql(mine, {"first": 6}, worker.token)
    assert len(data["mySubmissions"]["edges"]) == 6
    assert many.count == few.count, many.statements


async def test_concurrent_claims_take_distinct_items(services: Services) -> None:
    """12 workers race for 10 items: 10 win, each a different item; 2 find no slot."""
    boss = await funded_user(services, 5_000)
    rows = "n\n" + "".join(f"{i}\n" for i in range(10))
    task = await services.batches.create(
        boss, task_spec(instructions="Item {{n}}"), ItemSource(csv=rows), publish=True
    )
    workers = [await new_user(services) for _ in range(12)]
    outcomes = await asyncio.gather(
        *(refusal(services.submissions.claim(w, task.id)) for w in workers)
    )
    assert outcomes.count(None) == 10
    assert outcomes.count(ErrorCode.NO_SLOTS_LEFT) == 2
    items = await Submission.filter(task_id=task.id).values_list("item_id", flat=True)
    assert len(set(items)) == len(items) == 10
    assert None not in items
    held = await TaskItem.filter(task_id=task.id, submission_id__isnull=False).count()
    assert held == 10
    await assert_escrow_matches(task.id)
    await assert_ledger_balanced()


async def test_files_over_the_limits_are_refused(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    settings = settings_for(
        database_url,
        backend.broadcast,
        background_workers=False,
        batch_max_file_bytes=200,
        batch_max_items=3,
    )
    async with (
        LiveServer(create_app(settings, clock)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        api = Api(client, server, clock)
        boss = await employer(api, "10.00")
        big = "url,name\n" + "https://example.com/a,Ann\n" * 10
        for source in ({"csv": big}, {"csvBase64": _b64(big.encode())}):
            payload = await create_batch(api, boss, **{"csv": None, **source})
            (field,) = source
            assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
                ("TOO_LARGE", ["input", field])
            ]
        four = "n\n1\n2\n3\n4\n"
        payload = await create_batch(api, boss, csv=four, instructions="{{n}}")
        assert payload["userErrors"][0]["message"] == "csv has 4 items; at most 3."
        assert await Task.all().count() == 0
        assert await balance(api, boss) == "10.00"
