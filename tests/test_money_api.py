"""Deposits, payouts and the wallet through the API."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.ledger import LedgerEntry
from picotask.models.payouts import Payout
from tests.support import Api, User, assert_ledger_balanced

DEPOSIT = """mutation($input: CreateDepositInput!) { createDeposit(input: $input) {
  deposit { id amount { amount currency } status }
  viewer { balance { amount currency } }
  userErrors { field message code } } }"""
PAYOUT = """mutation($input: RequestPayoutInput!) { requestPayout(input: $input) {
  payout { id amount { amount } method destination status createdAt completedAt failureReason }
  viewer { balance { amount } }
  userErrors { field message code } } }"""
WALLET = """{ me { balance { amount currency } wallet {
  available { amount } heldInPayouts { amount } inEscrow { amount }
  lifetimeEarned { amount } lifetimeDeposited { amount } lifetimeWithdrawn { amount } } } }"""
MY_PAYOUTS = """query($first: Int, $after: String) { myPayouts(first: $first, after: $after) {
  totalCount edges { cursor node { id amount { amount } status } }
  pageInfo { hasNextPage endCursor } } }"""


async def deposit(api: Api, user: User, amount: str, key: str | None = None) -> dict[str, Any]:
    data = await api.gql(DEPOSIT, {"input": {"amount": amount, "idempotencyKey": key}}, user.token)
    payload: dict[str, Any] = data["createDeposit"]
    return payload


async def payout(api: Api, user: User, **values: Any) -> dict[str, Any]:
    request = {"amount": "5.00", "method": "PAYPAL", "destination": "me@example.com"}
    request.update(values)
    data = await api.gql(PAYOUT, {"input": request}, user.token)
    payload: dict[str, Any] = data["requestPayout"]
    return payload


async def test_deposit_then_withdraw(api: Api) -> None:
    user = await api.sign_up()
    paid_in = await deposit(api, user, "25.00")
    assert paid_in["userErrors"] == []
    assert paid_in["deposit"]["status"] == "SUCCEEDED"
    assert paid_in["deposit"]["amount"] == {"amount": "25.00", "currency": "USD"}
    assert paid_in["viewer"]["balance"] == {"amount": "25.00", "currency": "USD"}

    out = await payout(api, user, amount="10.50")
    assert out["userErrors"] == []
    assert out["payout"]["status"] == "REQUESTED"
    assert out["viewer"]["balance"] == {"amount": "14.50"}

    wallet = (await api.gql(WALLET, token=user.token))["me"]["wallet"]
    assert wallet["available"] == {"amount": "14.50"}
    assert wallet["heldInPayouts"] == {"amount": "10.50"}
    assert wallet["lifetimeDeposited"] == {"amount": "25.00"}

    await api.services.payout_processor.process_due()
    node = (
        await api.gql(
            "query($id: ID!) { node(id: $id) { ... on Payout { status completedAt } } }",
            {"id": out["payout"]["id"]},
            user.token,
        )
    )["node"]
    assert node["status"] == "PAID"
    assert node["completedAt"].endswith("Z")
    wallet = (await api.gql(WALLET, token=user.token))["me"]["wallet"]
    assert wallet["heldInPayouts"] == {"amount": "0.00"}
    assert wallet["lifetimeWithdrawn"] == {"amount": "10.50"}
    await assert_ledger_balanced()


async def test_payout_is_invisible_to_others(api: Api) -> None:
    owner, other = await api.sign_up(), await api.sign_up()
    await deposit(api, owner, "10.00")
    payout_id = (await payout(api, owner))["payout"]["id"]
    query = "query($id: ID!) { node(id: $id) { id } }"
    assert (await api.gql(query, {"id": payout_id}, other.token))["node"] is None
    assert (await api.gql(query, {"id": payout_id}))["node"] is None
    assert (await api.gql(query, {"id": payout_id}, owner.token))["node"] == {"id": payout_id}
    assert (await api.gql(MY_PAYOUTS, token=other.token))["myPayouts"]["totalCount"] == 0


async def test_my_payouts_pages_newest_first(api: Api) -> None:
    user = await api.sign_up()
    await deposit(api, user, "100.00")
    ids = [(await payout(api, user, amount=f"{5 + i}.00"))["payout"]["id"] for i in range(5)]
    first = (await api.gql(MY_PAYOUTS, {"first": 2}, user.token))["myPayouts"]
    assert first["totalCount"] == 5
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.gql(
            MY_PAYOUTS, {"first": 10, "after": first["pageInfo"]["endCursor"]}, user.token
        )
    )["myPayouts"]
    assert [e["node"]["id"] for e in rest["edges"]] == ids[::-1][2:]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"first": 101}, "BAD_USER_INPUT"),
        ({"first": -1}, "BAD_USER_INPUT"),
        ({"after": "garbage"}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_page_arguments(api: Api, args: dict[str, Any], code: str) -> None:
    user = await api.sign_up()
    errors = await api.errors(MY_PAYOUTS, args, user.token)
    assert errors[0]["extensions"]["code"] == code


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"amount": "0"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "-1.00"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "1.005"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "lots"}, "amount", "INVALID_AMOUNT"),
        ({"amount": "99999999999999999999"}, "amount", "OUT_OF_RANGE"),
        ({"amount": "4.99"}, "amount", "BELOW_MINIMUM"),
        ({"amount": "20.01"}, "amount", "INSUFFICIENT_FUNDS"),
        ({"destination": "paypal.me/ann"}, "destination", "INVALID"),
        ({"method": "CRYPTO", "destination": "me@example.com"}, "destination", "INVALID"),
        ({"idempotencyKey": ""}, "idempotencyKey", "INVALID"),
        ({"idempotencyKey": "k" * 101}, "idempotencyKey", "INVALID"),
    ],
)
async def test_bad_payout_input(api: Api, values: dict[str, Any], field: str, code: str) -> None:
    user = await api.sign_up()
    await deposit(api, user, "20.00")
    entries = await LedgerEntry.all().count()
    result = await payout(api, user, **values)
    assert result["payout"] is None
    assert result["userErrors"][0]["field"] == ["input", field]
    assert result["userErrors"][0]["code"] == code
    assert await Payout.all().count() == 0
    assert await LedgerEntry.all().count() == entries


async def test_unknown_payout_method_is_a_graphql_error(api: Api) -> None:
    user = await api.sign_up()
    response = await api.post(
        PAYOUT, {"input": {"amount": "5.00", "method": "WIRE", "destination": "x"}}, user.token
    )
    assert response.status_code == 400
    assert "WIRE" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("amount", "code"),
    [("0.00", "INVALID_AMOUNT"), ("1.001", "INVALID_AMOUNT"), ("10000.01", "OUT_OF_RANGE")],
)
async def test_bad_deposit_input(api: Api, amount: str, code: str) -> None:
    user = await api.sign_up()
    result = await deposit(api, user, amount)
    assert result["deposit"] is None
    assert result["userErrors"][0] == {
        "field": ["input", "amount"],
        "code": code,
        "message": result["userErrors"][0]["message"],
    }


async def test_idempotent_payout_through_the_api(api: Api) -> None:
    user = await api.sign_up()
    await deposit(api, user, "20.00")
    first = await payout(api, user, idempotencyKey="abc")
    again = await payout(api, user, idempotencyKey="abc")
    assert again["payout"]["id"] == first["payout"]["id"]
    assert again["viewer"]["balance"] == {"amount": "15.00"}
    other = await payout(api, user, idempotencyKey="abc", amount="6.00")
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_money_needs_authentication(api: Api) -> None:
    for query, variables in (
        (DEPOSIT, {"input": {"amount": "5.00"}}),
        (PAYOUT, {"input": {"amount": "5.00", "method": "PAYPAL", "destination": "a@b.co"}}),
        (MY_PAYOUTS, {}),
    ):
        errors = await api.errors(query, variables)
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
