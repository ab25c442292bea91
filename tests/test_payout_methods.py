"""Saved payout methods over the real app: confirmed by the mailed link (or at once by a
two-factor code), usable only after the cool-down, removed at once, every change mailed; and
every refusal writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from picotask.models.mail import AccountToken, OutboxMail, TokenPurpose
from picotask.models.payouts import Payout, SavedPayoutMethod
from picotask.services.core.clock import ManualClock
from picotask.services.payments.destinations import crypto_problem
from picotask.settings import Settings
from tests.mail_server import MailServer, text_of, token_from
from tests.support import Api, Backend, User
from tests.test_mail import deliver, served
from tests.test_money_api import deposit
from tests.test_two_factor import balance, code, enrol, pay, refusal

FIELDS = "id method destination label confirmedAt usableFrom"
ADD = f"""mutation($input: AddPayoutMethodInput!) {{ addPayoutMethod(input: $input) {{
  payoutMethod {{ {FIELDS} }} userErrors {{ field message code }} }} }}"""
CONFIRM = f"""mutation($token: String!) {{ confirmPayoutMethod(input: {{token: $token}}) {{
  payoutMethod {{ {FIELDS} }} userErrors {{ field message code }} }} }}"""
REMOVE = f"""mutation($input: RemovePayoutMethodInput!) {{ removePayoutMethod(input: $input) {{
  payoutMethod {{ {FIELDS} }} userErrors {{ field message code }} }} }}"""
MINE = f"{{ myPayoutMethods {{ {FIELDS} }} }}"
NODE = """query($id: ID!) { node(id: $id) { ... on SavedPayoutMethod { destination } } }"""
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
DAY = 86_400


@pytest.fixture
async def mail_api(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> AsyncIterator[Api]:
    async with served(database_url, backend, clock, mail_url=mail_server.url) as api:
        yield api


async def add(api: Api, user: User, **values: Any) -> dict[str, Any]:
    request = {"method": "PAYPAL", "destination": "Me@Example.com"}
    request.update(values)
    payload: dict[str, Any] = (await api.gql(ADD, {"input": request}, user.token))[
        "addPayoutMethod"
    ]
    return payload


def confirm_token(mail_server: MailServer, user: User) -> str:
    """The token of the (newest) mail asking to confirm a payout method."""
    found = [m for m in mail_server.to(user.email) if "new payout method" in str(m["Subject"])]
    return token_from(found[-1], "/confirm-payout-method")


async def mails(api: Api, mail_server: MailServer, user: User, count: int) -> list[str]:
    """The subjects of the mails to `user` once `count` arrived."""
    await deliver(api)
    await mail_server.wait_for(user.email, count)
    return [str(m["Subject"]) for m in mail_server.to(user.email)]


async def test_a_method_is_usable_once_confirmed_by_link_and_cooled_down(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up(display_name="Ann")
    await deposit(mail_api, user, "25.00")
    added = await add(mail_api, user, label="Main")
    assert added["userErrors"] == []
    method = added["payoutMethod"]
    assert method["destination"] == "me@example.com"
    assert (method["label"], method["confirmedAt"], method["usableFrom"]) == ("Main", None, None)

    pending = await pay(mail_api, user, payoutMethodId=method["id"], method=None, destination=None)
    assert refusal(pending) == ("PENDING_CONFIRMATION", ["input", "payoutMethodId"])

    await mails(mail_api, mail_server, user, 2)  # the address's confirmation, then this
    (link_mail,) = [
        m for m in mail_server.to(user.email) if "new payout method" in str(m["Subject"])
    ]
    assert link_mail["Subject"] == "Confirm a new payout method for picotask"
    assert "PayPal: me@example.com" in text_of(link_mail)
    assert "24 hours after that" in text_of(link_mail)
    token = token_from(link_mail, "/confirm-payout-method")

    confirmed = (await mail_api.gql(CONFIRM, {"token": token}))["confirmPayoutMethod"]  # no session
    assert confirmed["userErrors"] == []
    assert confirmed["payoutMethod"]["confirmedAt"] is not None
    again = (await mail_api.gql(CONFIRM, {"token": token}))["confirmPayoutMethod"]
    assert refusal(again) == ("INVALID_TOKEN", ["input", "token"])

    mail_api.clock.advance(DAY - 1)
    cooling = await pay(mail_api, user, payoutMethodId=method["id"], method=None, destination=None)
    assert refusal(cooling) == ("COOLING_DOWN", ["input", "payoutMethodId"])
    assert "2026-01-02 00:00 UTC" in cooling["userErrors"][0]["message"]
    assert await Payout.all().count() == 0
    assert await balance(mail_api, user) == "25.00"

    mail_api.clock.advance(1)
    paid = await pay(mail_api, user, payoutMethodId=method["id"], method=None, destination=None)
    assert paid["userErrors"] == []
    assert paid["payout"]["destination"] == "me@example.com"
    assert (await Payout.get()).payout_method_id == int((await SavedPayoutMethod.get()).id)
    subjects = await mails(mail_api, mail_server, user, 3)
    assert "A payout method was confirmed on your picotask account" in subjects
    (notice,) = [m for m in mail_server.to(user.email) if "confirmed on" in str(m["Subject"])]
    assert "Payouts can go to it from 2026-01-02 00:00 UTC." in text_of(notice)


async def test_with_two_factors_a_code_confirms_a_method_at_once(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up()
    await deposit(mail_api, user, "25.00")
    secret, _ = await enrol(mail_api, user)
    clock = mail_api.clock

    missing = await add(mail_api, user, method="CRYPTO", destination=ETH)
    assert refusal(missing) == ("TWO_FACTOR_REQUIRED", ["input", "twoFactorCode"])
    assert await SavedPayoutMethod.all().count() == 0

    added = await add(
        mail_api, user, method="CRYPTO", destination=ETH, twoFactorCode=code(secret, clock)
    )
    assert added["userErrors"] == []
    method = added["payoutMethod"]
    assert method["confirmedAt"] is not None
    assert method["usableFrom"] is not None
    assert await AccountToken.filter(purpose=TokenPurpose.PAYOUT_METHOD).count() == 0

    clock.advance(DAY)
    request = {"payoutMethodId": method["id"], "method": None, "destination": None}
    assert refusal(await pay(mail_api, user, **request)) == (
        "TWO_FACTOR_REQUIRED",
        ["input", "twoFactorCode"],
    )
    paid = await pay(mail_api, user, **request, twoFactorCode=code(secret, clock))
    assert paid["userErrors"] == []
    assert paid["payout"]["destination"] == ETH
    # Its own method and destination may come along; others may not.
    clock.advance(30)
    mixed = await pay(
        mail_api, user, **{**request, "method": "PAYPAL"}, twoFactorCode=code(secret, clock)
    )
    assert refusal(mixed) == ("INVALID", ["input", "payoutMethodId"])

    removing = {"payoutMethodId": method["id"]}
    no_code = (await mail_api.gql(REMOVE, {"input": removing}, user.token))["removePayoutMethod"]
    assert refusal(no_code) == ("TWO_FACTOR_REQUIRED", ["input", "twoFactorCode"])
    removed = (
        await mail_api.gql(
            REMOVE, {"input": {**removing, "twoFactorCode": code(secret, clock)}}, user.token
        )
    )["removePayoutMethod"]
    assert removed["userErrors"] == []
    subjects = await mails(mail_api, mail_server, user, 4)
    assert "A payout method was added and confirmed on your picotask account" in subjects
    assert "A payout method was removed on your picotask account" in subjects


@pytest.mark.parametrize(
    ("method", "destination"),
    [
        ("PAYPAL", "not-an-email"),
        ("PAYONEER", ""),
        ("CRYPTO", "me@example.com"),
        ("CRYPTO", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),  # one letter's case off
        ("CRYPTO", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe"),  # a digit short
        ("CRYPTO", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"),  # base58check fails
        ("CRYPTO", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr"),  # bech32 fails
    ],
)
async def test_a_bad_destination_writes_nothing(
    mail_api: Api, method: str, destination: str
) -> None:
    user = await mail_api.sign_up()
    mailed = await OutboxMail.all().count()
    refused = await add(mail_api, user, method=method, destination=destination)
    assert refusal(refused) == ("INVALID", ["input", "destination"])
    assert await SavedPayoutMethod.all().count() == 0
    assert await AccountToken.filter(purpose=TokenPurpose.PAYOUT_METHOD).count() == 0
    assert await OutboxMail.all().count() == mailed


async def test_duplicates_and_the_cap_are_refused(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> None:
    async with served(
        database_url, backend, clock, mail_url=mail_server.url, max_payout_methods=2
    ) as api:
        user = await api.sign_up()
        assert (await add(api, user))["userErrors"] == []
        assert refusal(await add(api, user, destination="me@EXAMPLE.com")) == (
            "DUPLICATE",
            ["input", "destination"],
        )
        assert (await add(api, user, method="CRYPTO", destination=ETH))["userErrors"] == []
        full = await add(api, user, destination="other@example.com")
        assert refusal(full) == ("LIMIT_REACHED", ["input"])
        assert await SavedPayoutMethod.all().count() == 2


async def test_removing_is_immediate_and_only_the_owners(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up()
    other = await mail_api.sign_up()
    await deposit(mail_api, user, "25.00")
    method = (await add(mail_api, user))["payoutMethod"]
    await mails(mail_api, mail_server, user, 2)
    token = confirm_token(mail_server, user)

    listed = (await mail_api.gql(MINE, token=user.token))["myPayoutMethods"]
    assert [m["id"] for m in listed] == [method["id"]]
    assert (await mail_api.gql(MINE, token=other.token))["myPayoutMethods"] == []
    node = (await mail_api.gql(NODE, {"id": method["id"]}, other.token))["node"]
    assert node is None
    theirs = await mail_api.gql(REMOVE, {"input": {"payoutMethodId": method["id"]}}, other.token)
    assert refusal(theirs["removePayoutMethod"]) == ("NOT_FOUND", ["input", "payoutMethodId"])
    assert refusal(
        await pay(mail_api, other, payoutMethodId=method["id"], method=None, destination=None)
    ) == ("NOT_FOUND", ["input", "payoutMethodId"])

    removed = await mail_api.gql(REMOVE, {"input": {"payoutMethodId": method["id"]}}, user.token)
    assert removed["removePayoutMethod"]["userErrors"] == []
    assert (await mail_api.gql(MINE, token=user.token))["myPayoutMethods"] == []
    # Its pending link no longer confirms it, and no payout goes to it.
    late = (await mail_api.gql(CONFIRM, {"token": token}))["confirmPayoutMethod"]
    assert refusal(late) == ("INVALID_TOKEN", ["input", "token"])
    gone = await pay(mail_api, user, payoutMethodId=method["id"], method=None, destination=None)
    assert refusal(gone) == ("NOT_FOUND", ["input", "payoutMethodId"])
    assert await Payout.all().count() == 0
    assert await balance(mail_api, user) == "25.00"
    subjects = await mails(mail_api, mail_server, user, 3)
    assert "A payout method was removed on your picotask account" in subjects


async def test_where_saved_methods_are_required_a_typed_destination_is_refused(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> None:
    assert Settings(env="production").saved_payout_method_required is True
    assert Settings().saved_payout_method_required is False
    async with served(
        database_url,
        backend,
        clock,
        mail_url=mail_server.url,
        require_saved_payout_method=True,
        payout_method_cooldown_seconds=0,
    ) as api:
        user = await api.sign_up()
        await deposit(api, user, "25.00")
        typed = await pay(api, user)
        assert refusal(typed) == ("REQUIRED", ["input", "payoutMethodId"])
        assert await Payout.all().count() == 0
        method = (await add(api, user))["payoutMethod"]
        await deliver(api)
        await mail_server.wait_for(user.email, 2)
        token = confirm_token(mail_server, user)
        assert (await api.gql(CONFIRM, {"token": token}))["confirmPayoutMethod"]["userErrors"] == []
        paid = await pay(api, user, payoutMethodId=method["id"], method=None, destination=None)
        assert paid["userErrors"] == []
        assert await balance(api, user) == "20.00"


@pytest.mark.parametrize(
    ("address", "good"),
    [
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", True),  # EIP-55's examples
        ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", True),
        ("0x52908400098527886E0F7030069857D2E4169EE7", True),  # all caps: no checksum to check
        ("0xde709f2102306220921060314715629080e2fb77", True),  # all lower: the same
        ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d395", False),  # two digits swapped
        ("0xFB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", False),  # one letter's case off
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedZZ", False),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", True),  # base58check, P2PKH
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", True),  # P2SH
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", False),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNL0", False),  # 0 is not base58
        ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", True),  # bech32, v0
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", True),  # one case: upper is fine
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", False),
        ("bc1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", False),  # mixed case
        ("bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", True),  # bech32m, v1
        # BIP 350: version 1 with a bech32 (not bech32m) checksum is refused.
        ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx", False),
        ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", False),  # testnet
        ("ltc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", False),
    ],
)
def test_crypto_checksums(address: str, good: bool) -> None:
    assert (crypto_problem(address) is None) is good
