"""Webhooks through the API: registration, signed deliveries from the event log, retries,
the address checks, the delivery log and redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from picotask.models.webhooks import WebhookEndpoint
from picotask.services.integrations.webhook_sender import WebhookDispatcher
from picotask.services.integrations.webhook_targets import TargetRefused, resolve
from tests.support import Api, User, count_queries
from tests.test_batches import create_batch, pk_of
from tests.test_marketplace_api import SUBMIT
from tests.webhook_receiver import Receiver
from tests.workday import GQL, task_input

CREATE_ENDPOINT = """mutation($url: String!, $types: [String!]!) {
  createWebhookEndpoint(input: {url: $url, eventTypes: $types}) {
    endpoint { id url eventTypes enabled } secret userErrors { field code message } } }"""
ENDPOINTS = """{ webhookEndpoints { totalCount edges { node { id enabled disabledReason
  deliveries { totalCount edges { node { id eventType status attempts responseCode durationMs
  lastError deliveredAt } } } } } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
  delivery { id status } userErrors { field code message } } }"""
SEND_TEST = """mutation($id: ID!) { sendTestWebhook(input: {endpointId: $id}) {
  delivery { id eventType status } userErrors { field code message } } }"""
ROTATE = """mutation($id: ID!) { rotateWebhookSecret(input: {endpointId: $id}) {
  secret userErrors { code } } }"""
ENABLE = """mutation($id: ID!) { setWebhookEndpointEnabled(input: {endpointId: $id, enabled: true})
  { endpoint { enabled } userErrors { code } } }"""
ALL_SUBMISSION_TYPES = [
    "submission.claimed",
    "submission.submitted",
    "submission.approved",
    "submission.rejected",
]


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    made = [Receiver() for _ in range(3)]
    for r in made:
        await r.start()
    yield made
    for r in made:
        await r.stop()


async def employer(api: Api, amount: str = "100.00") -> User:
    user = await api.sign_up()
    data = await api.gql(GQL["deposit"], {"a": amount}, user.token)
    assert data["createDeposit"]["userErrors"] == []
    return user


async def register(api: Api, user: User, receiver: Receiver, types: list[str]) -> str:
    payload = (await api.gql(CREATE_ENDPOINT, {"url": receiver.url, "types": types}, user.token))[
        "createWebhookEndpoint"
    ]
    assert payload["userErrors"] == [], payload
    assert payload["secret"].startswith("whsec_")
    receiver.secret = payload["secret"]
    endpoint_id: str = payload["endpoint"]["id"]
    return endpoint_id


async def post_task(api: Api, user: User, reward: str = "1.00", slots: int = 2) -> str:
    data = await api.gql(GQL["task"], task_input("Label it", reward, slots), user.token)
    assert data["createTask"]["userErrors"] == [], data
    task_id: str = data["createTask"]["task"]["id"]
    return task_id


async def claim(api: Api, worker: User, task_id: str) -> str:
    data = await api.gql(GQL["claim"], {"id": task_id}, worker.token)
    assert data["claimTask"]["userErrors"] == [], data
    submission_id: str = data["claimTask"]["submission"]["id"]
    return submission_id


async def act(api: Api, user: User, name: str, submission_id: str) -> None:
    data = await api.gql(GQL[name], {"id": submission_id}, user.token)
    assert next(iter(data.values()))["userErrors"] == [], data


async def deliveries(api: Api, user: User) -> list[dict[str, Any]]:
    data = await api.gql(ENDPOINTS, token=user.token)
    return [
        edge["node"]
        for endpoint in data["webhookEndpoints"]["edges"]
        for edge in endpoint["node"]["deliveries"]["edges"]
    ]


async def test_every_event_once_signed_and_only_the_employers_own(
    api: Api, receivers: list[Receiver]
) -> None:
    to_a, to_b, to_worker = receivers
    boss_a, boss_b = await employer(api), await employer(api)
    worker, careless = await api.sign_up(), await api.sign_up()
    await register(api, boss_a, to_a, ALL_SUBMISSION_TYPES)
    await register(api, boss_b, to_b, ALL_SUBMISSION_TYPES)
    await register(api, worker, to_worker, ["payout.paid"])

    task_a = await post_task(api, boss_a, reward="5.00")
    good = await claim(api, worker, task_a)
    await act(api, worker, "submit", good)
    await act(api, boss_a, "approve", good)
    bad = await claim(api, careless, task_a)
    await act(api, careless, "submit", bad)
    await act(api, boss_a, "reject", bad)
    task_b = await post_task(api, boss_b)
    other = await claim(api, worker, task_b)
    paid = await api.gql(GQL["payout"], {"a": "5.00"}, worker.token)
    assert paid["requestPayout"]["userErrors"] == []
    await api.services.payout_processor.process_due()

    assert await api.services.webhook_dispatcher.run_once() == 8
    assert await api.services.webhook_dispatcher.run_once() == 0  # nothing is sent twice

    # In the log's order: two attempts to one endpoint run at once, so arrival order is not
    # promised (a receiver orders by the event, not by arrival).
    got_a = sorted(to_a.events(), key=lambda e: pk_of(e["id"]))
    assert [(e["type"], e["data"]["submission"]["id"]) for e in got_a] == [
        ("submission.claimed", good),
        ("submission.submitted", good),
        ("submission.approved", good),
        ("submission.claimed", bad),
        ("submission.submitted", bad),
        ("submission.rejected", bad),
    ]
    assert {e["data"]["submission"]["taskId"] for e in got_a} == {task_a}
    assert len({e["id"] for e in got_a}) == 6
    got_b = to_b.events()
    assert [(e["type"], e["data"]["submission"]["id"]) for e in got_b] == [
        ("submission.claimed", other)
    ]
    assert [e["type"] for e in to_worker.events()] == ["payout.paid"]
    assert to_worker.events()[0]["data"]["payout"]["status"] == "PAID"

    log = await deliveries(api, boss_a)
    assert len(log) == 6
    assert {(d["status"], d["attempts"], d["responseCode"]) for d in log} == {("SUCCEEDED", 1, 200)}
    assert all(d["durationMs"] is not None and d["deliveredAt"] for d in log)
    # Another employer cannot redeliver A's deliveries, nor see them.
    refused = await api.gql(REDELIVER, {"id": log[0]["id"]}, boss_b.token)
    assert refused["redeliverWebhook"]["userErrors"][0]["code"] == "NOT_FOUND"
    node = await api.gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": log[0]["id"]}, boss_b.token
    )
    assert node["node"] is None


async def test_a_receiver_down_for_a_while_gets_the_event_after_it_comes_back(
    api: Api, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    boss, worker = await employer(api), await api.sign_up()
    await register(api, boss, receiver, ["submission.claimed"])
    await receiver.stop()
    submission = await claim(api, worker, await post_task(api, boss))
    dispatcher = api.services.webhook_dispatcher

    assert await dispatcher.run_once() == 1
    [first] = await deliveries(api, boss)
    assert (first["status"], first["attempts"], first["responseCode"]) == ("PENDING", 1, None)
    assert "Could not deliver" in first["lastError"]
    assert await dispatcher.run_once() == 0  # waits out its backoff (30 s, then 60 s...)
    api.clock.advance(30)
    assert await dispatcher.run_once() == 1
    await receiver.start()  # back on the same port
    api.clock.advance(59)
    assert await dispatcher.run_once() == 0
    api.clock.advance(1)
    assert await dispatcher.run_once() == 1

    [event] = receiver.events()
    assert (event["type"], event["id"]) == ("submission.claimed", first["id"])
    assert event["data"]["submission"]["id"] == submission
    [done] = await deliveries(api, boss)
    assert (done["status"], done["attempts"], done["responseCode"]) == ("SUCCEEDED", 3, 200)


async def test_an_endpoint_failing_for_a_day_is_disabled_then_redelivered(
    api: Api, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    receiver.status = 500
    boss, worker = await employer(api), await api.sign_up()
    endpoint = await register(api, boss, receiver, ["submission.claimed"])
    await claim(api, worker, await post_task(api, boss))
    dispatcher = api.services.webhook_dispatcher
    for _ in range(40):  # backoff doubles to an hour apart; a day holds under 30 attempts
        await dispatcher.run_once()
        api.clock.advance(3_600)
    [failed] = await deliveries(api, boss)
    assert (failed["status"], failed["responseCode"]) == ("FAILED", 500)
    attempts = failed["attempts"]
    assert 20 < attempts < 35
    assert len(receiver.received) == attempts
    data = await api.gql(ENDPOINTS, token=boss.token)
    state = data["webhookEndpoints"]["edges"][0]["node"]
    assert state["enabled"] is False
    assert "500" in state["disabledReason"]
    notes = await api.gql("{ events { edges { node { type message } } } }", token=boss.token)
    assert "webhook.disabled" in [e["node"]["type"] for e in notes["events"]["edges"]]

    # Fixed: enabled again and the delivery sent again, under the same id.
    receiver.status = 200
    assert (await api.gql(ENABLE, {"id": endpoint}, boss.token))["setWebhookEndpointEnabled"][
        "endpoint"
    ]["enabled"]
    again = await api.gql(REDELIVER, {"id": failed["id"]}, boss.token)
    assert again["redeliverWebhook"]["delivery"]["status"] == "PENDING"
    assert await dispatcher.run_once() == 1
    assert receiver.events()[-1]["id"] == failed["id"]
    [done] = await deliveries(api, boss)
    assert (done["status"], done["attempts"]) == ("SUCCEEDED", attempts + 1)


async def test_test_event_and_redelivery(api: Api, receivers: list[Receiver]) -> None:
    receiver = receivers[0]
    boss = await api.sign_up()
    endpoint = await register(api, boss, receiver, ["batch.completed"])
    rotated = (await api.gql(ROTATE, {"id": endpoint}, boss.token))["rotateWebhookSecret"]
    assert rotated["userErrors"] == []
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != receiver.secret
    receiver.secret = rotated["secret"]  # every body below is checked against the new one
    sent = (await api.gql(SEND_TEST, {"id": endpoint}, boss.token))["sendTestWebhook"]
    assert sent["delivery"]["eventType"] == "webhook.test"
    assert await api.services.webhook_dispatcher.run_once() == 1
    again = await api.gql(REDELIVER, {"id": sent["delivery"]["id"]}, boss.token)
    assert again["redeliverWebhook"]["userErrors"] == []
    assert await api.services.webhook_dispatcher.run_once() == 1
    got = receiver.events()
    assert [e["type"] for e in got] == ["webhook.test", "webhook.test"]
    assert got[0]["id"] == got[1]["id"] == sent["delivery"]["id"]
    someone = await api.sign_up()
    refused = (await api.gql(SEND_TEST, {"id": endpoint}, someone.token))["sendTestWebhook"]
    assert refused["userErrors"] == [
        {
            "field": ["input", "endpointId"],
            "code": "NOT_FOUND",
            "message": "No such webhook endpoint of yours.",
        }
    ]


@pytest.mark.parametrize(
    ("url", "types", "field", "words"),
    [
        ("ftp://example.com/hook", ["submission.claimed"], ["input", "url"], "http"),
        ("http://10.1.2.3/hook", ["submission.claimed"], ["input", "url"], "private"),
        ("http://169.254.169.254/latest", ["submission.claimed"], ["input", "url"], "link-local"),
        ("http://[fd00::1]/hook", ["submission.claimed"], ["input", "url"], "private"),
        ("http://127.0.0.1:1/hook", ["task.exploded"], ["input", "eventTypes", "0"], "Unknown"),
        ("http://127.0.0.1:1/hook", [], ["input", "eventTypes"], "at least one"),
        ("http://127.0.0.1:1/ho\r\nX-Evil: 1", ["submission.claimed"], ["input", "url"], "U+000D"),
        ("http://127.0.0.1:1/a\tb", ["submission.claimed"], ["input", "url"], "control characters"),
        ("http://127.0.0.1:1/a b", ["submission.claimed"], ["input", "url"], "spaces"),
        ("http://127.0.0.1:1/\u202ehook", ["submission.claimed"], ["input", "url"], "U+202E"),
    ],
)
async def test_bad_endpoints_are_refused_and_nothing_is_written(
    api: Api, url: str, types: list[str], field: list[str], words: str
) -> None:
    boss = await api.sign_up()
    payload = (await api.gql(CREATE_ENDPOINT, {"url": url, "types": types}, boss.token))[
        "createWebhookEndpoint"
    ]
    assert payload["endpoint"] is None
    assert payload["secret"] is None
    [error] = payload["userErrors"]
    assert error["field"] == field, error
    assert words in error["message"], error
    assert (await api.gql(ENDPOINTS, token=boss.token))["webhookEndpoints"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("url", "https_only", "words"),
    [
        ("http://[::1]:9/hook", False, "loopback"),
        ("http://127.0.0.1:9/hook", False, "loopback"),
        ("http://[::ffff:10.0.0.1]/hook", False, "private"),
        ("http://example.com/hook", True, "https"),
    ],
)
async def test_addresses_are_refused_before_connecting(
    url: str, https_only: bool, words: str
) -> None:
    with pytest.raises(TargetRefused, match=words):
        await resolve(url, https_only=https_only, allow_loopback=False)


async def test_the_address_is_checked_again_at_each_delivery(
    api: Api, receivers: list[Receiver]
) -> None:
    receiver = receivers[0]
    boss, worker = await employer(api), await api.sign_up()
    await register(api, boss, receiver, ["submission.claimed"])
    await claim(api, worker, await post_task(api, boss))
    dispatcher = api.services.webhook_dispatcher
    # As if the name now resolved to loopback where loopback is not allowed.
    dispatcher.settings = dispatcher.settings.model_copy(update={"webhook_allow_loopback": False})
    assert await dispatcher.run_once() == 1
    assert receiver.received == []
    [refused] = await deliveries(api, boss)
    assert refused["status"] == "PENDING"
    assert "loopback" in refused["lastError"]


async def test_a_stored_url_the_client_cannot_send_is_logged_as_such(
    api: Api, receivers: list[Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    """An endpoint registered before URLs were checked this closely: each attempt says why it
    failed, with no traceback of ours in the log."""
    boss, worker = await employer(api), await api.sign_up()
    await register(api, boss, receivers[0], ["submission.claimed"])
    await WebhookEndpoint.all().update(url=receivers[0].url + "\r\nX-Evil: 1")
    await claim(api, worker, await post_task(api, boss))
    assert await api.services.webhook_dispatcher.run_once() == 1
    [failed] = await deliveries(api, boss)
    assert failed["status"] == "PENDING"
    assert "control characters (found U+000D" in failed["lastError"]
    assert receivers[0].received == []
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_completed_batch_is_delivered(api: Api, receivers: list[Receiver]) -> None:
    receiver = receivers[0]
    boss, worker = await employer(api), await api.sign_up()
    await register(api, boss, receiver, ["batch.completed"])
    created = await create_batch(api, boss, csv="url,name\nhttps://example.com/a,Ann\n")
    assert created["userErrors"] == [], created
    task_id = created["task"]["id"]
    submission = await claim(api, worker, task_id)
    answers = [{"label": "Verdict", "value": "fine"}]
    submitted = await api.gql(SUBMIT, {"id": submission, "answers": answers}, worker.token)
    assert submitted["submitProof"]["userErrors"] == []
    await act(api, boss, "approve", submission)
    assert await api.services.webhook_dispatcher.run_once() == 1
    [event] = receiver.events()
    assert event["type"] == "batch.completed"
    assert event["data"]["task"]["id"] == task_id


async def test_two_instances_send_each_event_once(api: Api, receivers: list[Receiver]) -> None:
    """Two dispatchers on one database (as two instances): each stretch of the log and each
    attempt is taken by one of them."""
    receiver = receivers[0]
    boss = await employer(api)
    await register(api, boss, receiver, ["submission.claimed"])
    task_id = await post_task(api, boss, slots=6)
    for _ in range(6):
        await claim(api, await api.sign_up(), task_id)
    services = api.services
    other = WebhookDispatcher(services.settings, services.clock, services.events)
    try:
        made = await asyncio.gather(services.webhook_dispatcher.run_once(), other.run_once())
    finally:
        await other.close()
    assert sum(made) == 6
    got = receiver.events()
    assert len(got) == 6
    assert len({e["id"] for e in got}) == 6


async def test_a_slow_receiver_delays_nobody_else(api: Api, receivers: list[Receiver]) -> None:
    slow, fast = receivers[0], receivers[1]
    slow.hold = asyncio.Event()
    boss_a, boss_b = await employer(api), await employer(api)
    await register(api, boss_a, slow, ["submission.claimed"])
    await register(api, boss_b, fast, ["submission.claimed"])
    task_a = await post_task(api, boss_a, slots=4)
    for _ in range(4):
        await claim(api, await api.sign_up(), task_a)
    await claim(api, await api.sign_up(), await post_task(api, boss_b))
    dispatcher = api.services.webhook_dispatcher
    await dispatcher.fan_out()

    # Two attempts to the slow endpoint (its bound), one to the fast: none waits for another.
    assert await dispatcher.dispatch() == 3
    await fast.until(1)
    await slow.until(2)
    assert await dispatcher.dispatch() == 0  # the slow one is at its bound; nothing else is due
    for _ in range(50):  # the fast delivery's result is recorded while the slow ones hang
        [done] = await deliveries(api, boss_b)
        if done["status"] == "SUCCEEDED":
            break
        await asyncio.sleep(0.02)
    assert done["status"] == "SUCCEEDED"
    assert len(slow.received) == 2

    slow.hold.set()
    assert await dispatcher.run_once() == 2
    assert len(slow.events()) == 4
    assert [e["type"] for e in fast.events()] == ["submission.claimed"]


async def test_delivery_logs_of_many_endpoints_cost_the_same_queries_and_deletion(
    api: Api, receivers: list[Receiver]
) -> None:
    boss = await api.sign_up()
    endpoints = [await register(api, boss, receivers[0], ["batch.completed"]) for _ in range(4)]
    for endpoint in endpoints:
        await api.gql(SEND_TEST, {"id": endpoint}, boss.token)
    sent = (await api.gql(SEND_TEST, {"id": endpoints[0]}, boss.token))["sendTestWebhook"]
    page = """query($first: Int) { webhookEndpoints(first: $first) { edges { node { id
      deliveries(first: 1) { totalCount pageInfo { hasNextPage } edges { node { id } } } } } } }"""
    with count_queries() as few:
        await api.gql(page, {"first": 1}, boss.token)
    with count_queries() as many:
        data = await api.gql(page, {"first": 4}, boss.token)
    assert many.count == few.count, many.statements
    logs = {e["node"]["id"]: e["node"]["deliveries"] for e in data["webhookEndpoints"]["edges"]}
    assert logs[endpoints[0]]["totalCount"] == 2
    assert logs[endpoints[0]]["pageInfo"] == {"hasNextPage": True}
    assert logs[endpoints[0]]["edges"] == [{"node": {"id": sent["delivery"]["id"]}}]
    assert [logs[e]["totalCount"] for e in endpoints[1:]] == [1, 1, 1]

    delete = """mutation($id: ID!) { deleteWebhookEndpoint(input: {endpointId: $id}) {
      deletedEndpointId userErrors { field code } } }"""
    someone = await api.sign_up()
    refused = (await api.gql(delete, {"id": endpoints[0]}, someone.token))["deleteWebhookEndpoint"]
    assert refused == {
        "deletedEndpointId": None,
        "userErrors": [{"field": ["input", "endpointId"], "code": "NOT_FOUND"}],
    }
    gone = (await api.gql(delete, {"id": endpoints[0]}, boss.token))["deleteWebhookEndpoint"]
    assert gone == {"deletedEndpointId": endpoints[0], "userErrors": []}
    # Its pending deliveries went with it: only the other endpoints' are sent.
    assert await api.services.webhook_dispatcher.run_once() == 3
    left = (await api.gql(ENDPOINTS, token=boss.token))["webhookEndpoints"]
    assert left["totalCount"] == 3
    assert endpoints[0] not in {e["node"]["id"] for e in left["edges"]}
