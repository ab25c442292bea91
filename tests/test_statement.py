"""The statement: every movement of a balance, from the ledger, with totals, a CSV export and
live rows on myEvents; checked against the ledger after a scripted day of work."""

from __future__ import annotations

import csv
import importlib
import io
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tortoise import connections

from picotask.models.events import Event, Stream
from picotask.models.ledger import Account, LedgerEntry, LedgerTransaction, TransactionKind
from picotask.models.payouts import PayoutMethod
from picotask.schema.relay import pk_of
from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from picotask.services.core.pagination import decode_cursor
from picotask.services.core.sql import Sql
from picotask.services.money.statement import StatementFilter
from picotask.services.money.statement_rows import BY_KIND, RULES, StatementKind, kind_sql, rule_for
from picotask.services.registry import Services
from picotask.services.work.proofs import Answer
from tests.support import (
    Api,
    Backend,
    LiveServer,
    User,
    assert_ledger_balanced,
    funded_user,
    new_user,
    next_data,
    post_task,
    settings_for,
    until,
)
from tests.workday import Workday, people, run

ROW = """cursor kind amount { amount currency } fee { amount } balanceAfter { amount } createdAt
  task { id } submission { id } payout { id status } deposit { id }"""
STATEMENT = f"""query($first: Int, $after: String, $filter: StatementFilter) {{
  statement(first: $first, after: $after, filter: $filter) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ROW} }} }} }} }}"""
TOTALS = """query($from: DateTime!, $to: DateTime!, $interval: StatementInterval!) {
  statementTotals(from: $from, to: $to, interval: $interval) {
    from to interval openingBalance { amount } closingBalance { amount }
    total { ...bucket } buckets { ...bucket } } }
fragment bucket on StatementBucket { start deposited { amount } earned { amount }
  spent { amount } refunded { amount } withdrawn { amount } returned { amount }
  fees { amount } net { amount } closingBalance { amount } }"""
CSV = """query($from: DateTime!, $to: DateTime!, $kinds: [StatementKind!]) {
  statementCsv(from: $from, to: $to, kinds: $kinds) }"""
CSV_BY = """query($from: DateTime!, $to: DateTime!, $taskId: ID, $counterpartyId: ID) {
  statementCsv(from: $from, to: $to, taskId: $taskId, counterpartyId: $counterpartyId) }"""
LIVE = f"""subscription {{ myEvents(includeStatement: true) {{
  cursor type message statementRow {{ {ROW} }} }} }}"""
BALANCE = "{ me { balance { amount } } }"
DAY1, DAY2, DAY3 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"


async def statement(
    api: Api, user: User, first: int = 4, filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every row, newest first, read page by page."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {"first": first, "after": after, "filter": filter}
        page = (await api.gql(STATEMENT, variables, user.token))["statement"]
        rows += [edge["node"] for edge in page["edges"]]
        assert [edge["cursor"] for edge in page["edges"]] == [
            edge["node"]["cursor"] for edge in page["edges"]
        ]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(rows)
            return rows
        after = page["pageInfo"]["endCursor"]


def transaction_of(row: dict[str, Any]) -> int:
    return int(decode_cursor(row["cursor"], [False])[0])


def cents(amount: str) -> int:
    return round(float(amount) * 100)


async def ledger_history(user: User) -> list[tuple[int, int]]:
    """(transaction id, balance after it) for every entry of the user's balance, from the
    ledger itself: a running sum in posting order."""
    account = await Account.get(ref=f"user:{pk_of(user.id, 'User')}")
    entries = await LedgerEntry.filter(account_id=account.id).order_by("transaction_id")
    history, balance = [], 0
    for entry in entries:
        balance += entry.amount
        history.append((entry.transaction_id, balance))
    assert balance == account.balance
    return history


async def live_rows(ws: Any, expected: int) -> list[dict[str, Any]]:
    """The statement rows pushed on myEvents: `expected` of them, then nothing more (the
    notifications in between are skipped)."""
    rows: list[dict[str, Any]] = []
    while len(rows) < expected:
        event = (await next_data(ws, "live"))["myEvents"]
        if event["type"] == "statement.row":
            assert event["message"]
            rows.append(event["statementRow"])
        else:
            assert event["statementRow"] is None
    while True:
        try:
            event = (await next_data(ws, "live", within=0.5))["myEvents"]
        except TimeoutError:
            return rows
        assert event["type"] != "statement.row", event


async def test_the_statement_of_a_day_reconciles_with_the_ledger(api: Api) -> None:
    day = await people(api)
    watched = ("boss", "w1")
    async with api.ws(day.boss.token) as boss_ws, api.ws(day.workers[0].token) as w1_ws:
        sockets = dict(zip(watched, (boss_ws, w1_ws), strict=True))
        for ws in sockets.values():
            await ws.subscribe("live", LIVE)
        bus = api.server.app.state.bus
        await until(lambda: bus.stats.subscribers == 2)  # live before the day begins
        await run(api, day)

        for name, expected in day.expected.items():
            user = day.user(name)
            rows = await statement(api, user)
            oldest_first = rows[::-1]
            # The rows, their kinds, amounts and fees.
            assert [
                (r["kind"], r["amount"]["amount"], r["fee"] and r["fee"]["amount"])
                for r in oldest_first
            ] == expected, name
            # Each movement of the balance is one row, with the balance after it.
            history = await ledger_history(user)
            moved = [r for r in oldest_first if r["kind"] != "PAYOUT_PAID"]
            assert [(transaction_of(r), cents(r["balanceAfter"]["amount"])) for r in moved] == (
                history
            ), name
            balance = (await api.gql(BALANCE, token=user.token))["me"]["balance"]["amount"]
            if rows:
                assert rows[0]["balanceAfter"]["amount"] == balance
            assert sum(cents(r["amount"]["amount"]) for r in rows) == cents(balance)
            await check_objects(oldest_first)
            if name in sockets:
                live = await live_rows(sockets[name], len(rows))
                assert [as_pushed(r) for r in live] == [as_pushed(r) for r in oldest_first]

        await check_totals(api, day)
        await check_csv(api, day)
        await check_parties(api, day)
    await assert_ledger_balanced()


def as_pushed(row: dict[str, Any]) -> dict[str, Any]:
    """A row without the payout's status, which moved on after the row was pushed."""
    return {**row, "payout": row["payout"] and {"id": row["payout"]["id"]}}


async def check_objects(rows: list[dict[str, Any]]) -> None:
    """Each row names what it came from."""
    for row in rows:
        kind = row["kind"]
        assert (row["task"] is not None) == (kind not in {"DEPOSIT"} and "PAYOUT" not in kind)
        assert (row["submission"] is not None) == (
            kind in {"EARNED", "BONUS_SENT", "BONUS_RECEIVED", "DISPUTE_OVERTURNED"}
            or kind == "DISPUTE_UPHELD"
        )
        assert (row["payout"] is not None) == ("PAYOUT" in kind)
        assert (row["deposit"] is not None) == (kind == "DEPOSIT")
        assert row["amount"]["currency"] == "USD"
    paid = [r for r in rows if r["kind"] == "PAYOUT_PAID"]
    assert all(r["payout"]["status"] == "PAID" for r in paid)


def bucket(**values: str) -> dict[str, Any]:
    names = ("deposited", "earned", "spent", "refunded", "withdrawn", "returned", "fees", "net")
    return {name: {"amount": values.get(name, "0.00")} for name in names}


async def check_totals(api: Api, day: Workday) -> None:
    async def totals(user: User, interval: str) -> dict[str, Any]:
        variables = {"from": DAY1, "to": DAY3, "interval": interval}
        return dict((await api.gql(TOTALS, variables, user.token))["statementTotals"])

    def without_balances(b: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in b.items() if k not in {"start", "closingBalance"}}

    boss = await totals(day.boss, "DAY")
    assert (boss["from"], boss["to"], boss["interval"]) == (DAY1, DAY3, "DAY")
    assert [b["start"] for b in boss["buckets"]] == [DAY1, DAY2]
    first = bucket(deposited="30.00", spent="5.75", refunded="1.65", fees="0.35", net="25.90")
    assert without_balances(boss["buckets"][0]) == first
    assert without_balances(boss["buckets"][1]) == bucket()
    assert without_balances(boss["total"]) == first
    assert [b["closingBalance"]["amount"] for b in boss["buckets"]] == ["25.90", "25.90"]
    assert (boss["openingBalance"], boss["closingBalance"]) == (
        {"amount": "0.00"},
        {"amount": "25.90"},
    )

    w1 = await totals(day.workers[0], "DAY")
    assert without_balances(w1["buckets"][0]) == bucket(earned="1.00", net="1.00")
    assert without_balances(w1["buckets"][1]) == bucket(
        deposited="5.00", withdrawn="11.00", returned="5.00", net="-1.00"
    )
    assert [b["closingBalance"]["amount"] for b in w1["buckets"]] == ["1.00", "0.00"]
    # Weeks start on Monday, months on the first; the whole range is the same either way.
    for interval, start in (("WEEK", "2025-12-29T00:00:00Z"), ("MONTH", DAY1)):
        longer = await totals(day.workers[0], interval)
        assert [b["start"] for b in longer["buckets"]] == [start]
        assert without_balances(longer["buckets"][0]) == without_balances(w1["total"])
    # A range after the first day: opening balance is the balance then.
    later = await api.gql(
        TOTALS, {"from": DAY2, "to": DAY3, "interval": "DAY"}, day.workers[0].token
    )
    assert later["statementTotals"]["openingBalance"] == {"amount": "1.00"}


def party(day: Workday, user: User, row: dict[str, Any]) -> tuple[str, str]:
    """The other party of a statement row, (id, display name): the worker of the submission
    for the employer, the employer for a worker; none without a task."""
    if not row["task"]:
        return "", ""
    if user is not day.boss:
        return day.boss.id, "Boss"
    by_submission = {sid: int(key[1]) for key, sid in day.submissions.items()}
    n = by_submission.get(row["submission"]["id"]) if row["submission"] else None
    return (day.workers[n - 1].id, f"Worker {n}") if n else ("", "")


async def check_parties(api: Api, day: Workday) -> None:
    """The statement filtered by task and by the other party: the same rows as the whole."""
    titles = {day.task_a: "Task A", day.task_b: "Task B"}
    for user in (day.boss, day.workers[0], day.workers[3]):
        everything = await statement(api, user, first=100)
        for task_id in titles:
            by_task = await statement(api, user, first=100, filter={"taskId": task_id})
            assert by_task == [r for r in everything if r["task"] and r["task"]["id"] == task_id]
        others = {party(day, user, r)[0] for r in everything} - {""}
        assert others
        for other in others:
            with_them = await statement(api, user, first=2, filter={"counterpartyId": other})
            assert with_them == [r for r in everything if party(day, user, r)[0] == other]
    # The boss and worker 4: the bonus (the reward went from escrow, not the boss's balance).
    w4 = await statement(api, day.boss, filter={"counterpartyId": day.workers[3].id})
    assert [r["kind"] for r in w4] == ["BONUS_SENT"]
    stranger = await api.sign_up()
    assert await statement(api, stranger, filter={"counterpartyId": day.boss.id}) == []


async def check_csv(api: Api, day: Workday) -> None:
    titles = {day.task_a: "Task A", day.task_b: "Task B"}
    for user in (day.boss, day.workers[0]):
        rows = (await statement(api, user, first=100))[::-1]
        text = (await api.gql(CSV, {"from": DAY1, "to": DAY3}, user.token))["statementCsv"]
        lines = list(csv.reader(io.StringIO(text)))
        assert lines[0] == [
            "time",
            "kind",
            "amount",
            "fee",
            "balance_after",
            "currency",
            "task",
            "submission",
            "payout",
            "deposit",
            "description",
            "task_title",
            "counterparty",
            "counterparty_name",
        ]
        assert lines[1:] == [
            [
                r["createdAt"],
                r["kind"],
                r["amount"]["amount"],
                r["fee"]["amount"] if r["fee"] else "",
                r["balanceAfter"]["amount"],
                "USD",
                *(
                    r[key]["id"] if r[key] else ""
                    for key in ("task", "submission", "payout", "deposit")
                ),
                BY_KIND[StatementKind(r["kind"])].label,
                titles[r["task"]["id"]] if r["task"] else "",
                *party(day, user, r),
            ]
            for r in rows
        ]
        # Filtered by task and by the other party as the statement is.
        other = next(p for r in rows if (p := party(day, user, r)[0]))
        for args, kept in (
            (
                {"taskId": day.task_a},
                [r for r in rows if r["task"] and r["task"]["id"] == day.task_a],
            ),
            ({"counterpartyId": other}, [r for r in rows if party(day, user, r)[0] == other]),
        ):
            variables = {"from": DAY1, "to": DAY3, **args}
            text = (await api.gql(CSV_BY, variables, user.token))["statementCsv"]
            lines = list(csv.reader(io.StringIO(text)))
            assert [line[0] for line in lines[1:]] == [r["createdAt"] for r in kept]
    # Filtered by kind, the same rows.
    kinds = ["PAYOUT_REQUESTED", "PAYOUT_RETURNED"]
    text = (await api.gql(CSV, {"from": DAY1, "to": DAY3, "kinds": kinds}, day.workers[0].token))[
        "statementCsv"
    ]
    assert [line[1] for line in list(csv.reader(io.StringIO(text)))[1:]] == [
        "PAYOUT_REQUESTED",
        "PAYOUT_RETURNED",
        "PAYOUT_REQUESTED",
    ]


async def test_filters_by_date_and_kind(api: Api) -> None:
    day = await people(api)
    await run(api, day)
    w1 = day.workers[0]
    everything = await statement(api, w1)
    second_day = await statement(api, w1, filter={"from": DAY2, "to": DAY3})
    assert second_day == [r for r in everything if r["createdAt"] >= DAY2]
    assert len(second_day) == 5
    first_day = await statement(api, w1, filter={"to": DAY2})
    assert first_day == [r for r in everything if r["createdAt"] < DAY2]
    payouts = await statement(api, w1, first=1, filter={"kinds": ["PAYOUT_PAID", "DEPOSIT"]})
    assert payouts == [r for r in everything if r["kind"] in {"PAYOUT_PAID", "DEPOSIT"}]
    assert [r["kind"] for r in payouts] == ["PAYOUT_PAID", "DEPOSIT"]
    # A filtered row keeps the balance after it as on the whole statement.
    assert payouts[1]["balanceAfter"] == {"amount": "6.00"}


LONG = "from and to are at most 366 days apart; ask for a shorter range."
BAD_INPUT: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        STATEMENT,
        {"filter": {"from": DAY2, "to": DAY1}},
        "from must be before to.",
        ["filter", "from"],
    ),
    (
        STATEMENT,
        {"filter": {"from": DAY1, "to": DAY1}},
        "from must be before to.",
        ["filter", "from"],
    ),
    (STATEMENT, {"filter": {"from": "2025-01-01T00:00:00Z", "to": DAY3}}, LONG, ["filter", "to"]),
    (TOTALS, {"from": DAY3, "to": DAY1, "interval": "DAY"}, "from must be before to.", ["from"]),
    (CSV, {"from": "2024-01-01T00:00:00Z", "to": DAY1}, LONG, ["to"]),
    (STATEMENT, {"after": "not-a-cursor"}, "after is not a valid cursor.", ["after"]),
    (STATEMENT, {"first": 101}, "first must be between 0 and 100.", ["first"]),
    (
        STATEMENT,
        {"filter": {"taskId": "bm9wZQ=="}},
        "taskId is not an id of a Task.",
        ["filter", "taskId"],
    ),
    (
        CSV_BY,
        {"from": DAY1, "to": DAY2, "counterpartyId": "x"},
        "counterpartyId is not an id of a User.",
        ["counterpartyId"],
    ),
]


async def test_bad_input_is_refused_clearly(api: Api) -> None:
    user = await api.sign_up()
    for query, variables, message, field in BAD_INPUT:
        errors = await api.errors(query, variables, user.token)
        assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
            (message, "BAD_USER_INPUT")
        ], (query, variables)
        assert errors[0]["extensions"]["field"] == field, (query, variables)
    anonymous = await api.errors(STATEMENT, {})
    assert anonymous[0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("query", "variables", "field", "words"),
    [
        (STATEMENT, {"filter": {"kinds": ["SALARY"]}}, ["filter"], "SALARY"),
        (CSV, {"from": DAY1, "to": DAY2, "kinds": ["NOT_A_KIND"]}, ["kinds"], "NOT_A_KIND"),
        (CSV, {"from": "yesterday", "to": DAY2}, ["from"], "yesterday"),
        (CSV, {"to": DAY2}, ["from"], "to be provided"),
        (STATEMENT, {"first": "ten"}, ["first"], "ten"),
    ],
)
async def test_variables_that_cannot_be_read_are_bad_user_input(
    api: Api, query: str, variables: dict[str, Any], field: list[str], words: str
) -> None:
    """Refused before anything runs, by graphql-core, and coded like every other refusal."""
    user = await api.sign_up()
    [error] = await api.errors(query, variables, user.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field, "reason": "INVALID"}
    assert words in error["message"]
    async with api.ws(user.token) as ws:  # the same over the websocket
        await ws.subscribe("bad", query, variables)
        message = await ws.receive_for("bad")
        payload = message["payload"]
        [found] = payload if message["type"] == "error" else payload["errors"]
        assert found["extensions"] == error["extensions"], message
        await ws.subscribe("ok", "{ me { id } }")  # the socket goes on
        assert (await next_data(ws, "ok"))["me"]["id"]


async def test_a_csv_export_is_bounded(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    settings = settings_for(
        database_url, backend.broadcast, background_workers=False, statement_csv_max_rows=2
    )
    async with (
        LiveServer(create_app(settings, clock)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        api = Api(client, server, clock)
        user = await api.sign_up()
        for _ in range(3):
            clock.advance(60)
            await api.gql(
                'mutation { createDeposit(input: {amount: "1.00"}) { userErrors { code } } }',
                token=user.token,
            )
        errors = await api.errors(CSV, {"from": DAY1, "to": DAY2}, user.token)
        assert errors[0]["message"] == "The range holds more than 2 rows; export a shorter one."
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
        text = (await api.gql(CSV, {"from": DAY1, "to": DAY2, "kinds": ["EARNED"]}, user.token))[
            "statementCsv"
        ]
        assert text.splitlines()[1:] == []


async def test_the_sql_and_python_kinds_agree(services: Services) -> None:
    """The statement query names rows with the same rules as the rows pushed live."""
    cases = [
        (transaction, leg, dispute)
        for transaction in TransactionKind
        for leg in (-5, 5)
        for dispute in (False, True)
    ]
    sql = Sql()
    selects = [
        f"SELECT {i} AS i, {sql(transaction.value)} AS kind, {leg} AS leg, "
        f"{'TRUE' if dispute else 'FALSE'} AS dispute"
        for i, (transaction, leg, dispute) in enumerate(cases)
    ]
    cases_sql = " UNION ALL ".join(selects)
    named_sql = kind_sql("kind", "leg", "dispute")
    # Only placeholders and the rules' own constants in the text.
    statement = f"SELECT i, {named_sql} AS named FROM ({cases_sql}) c ORDER BY i"  # noqa: S608
    named = [row["named"] for row in await sql.rows(statement)]
    assert named == [rule_for(*case).kind.value for case in cases]
    assert {rule.kind for rule in RULES} == set(named)


async def test_postings_before_references_are_backfilled(services: Services) -> None:
    """The migration reads a task and payout from the accounts an old posting moved money
    between, its fee from the platform's leg or the task's price."""
    employer = await funded_user(services, 10_000)
    worker = await new_user(services)
    task = await post_task(services, employer, slots=3)
    submission = await services.submissions.claim(worker, task.id)
    await services.submissions.submit(worker, submission.id, [Answer("Username", "ann_b")])
    await services.submissions.approve(employer, submission.id, None)
    await services.tasks.cancel(employer, task.id)
    await services.payouts.deposit(worker, Decimal("5.00"), None)
    await services.payouts.request_payout(
        worker, Decimal("5.00"), PayoutMethod.PAYPAL, "w@example.com", None
    )
    await services.payout_processor.process_due()
    columns = ("id", "task_id", "payout_id", "fee")
    before = await LedgerTransaction.all().order_by("id").values_list(*columns)
    await LedgerTransaction.all().update(task_id=None, payout_id=None, fee=0)
    migration = importlib.import_module("picotask.migrations.0004_ledger_references")
    connection = connections.get("default")
    for statement in migration.BACKFILL:
        await connection.execute_script(statement)
    after = await LedgerTransaction.all().order_by("id").values_list(*columns)
    assert after == before
    assert set(await LedgerTransaction.all().values_list("kind", flat=True)) >= {
        TransactionKind.ESCROW_FUND,
        TransactionKind.ESCROW_RELEASE,
        TransactionKind.ESCROW_REFUND,
        TransactionKind.PAYOUT_HOLD,
        TransactionKind.PAYOUT_SETTLE,
    }


async def test_every_posting_pushes_its_row(services: Services) -> None:
    """The live rows are the statement's rows: the same kinds, amounts and balances."""
    employer = await funded_user(services, 5_000)
    await post_task(services, employer, slots=2)
    user_id = employer.id
    pushed = await Event.filter(stream=Stream.STATEMENT, audience_id=user_id).order_by("id")
    page = await services.statement.page(user_id, 10, None, StatementFilter())
    assert [event.payload["row"] for event in pushed] == [
        row.to_json() for _, row in reversed(page.rows)
    ]
