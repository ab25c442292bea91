"""Authentication abuse: log-in and sign-up throttled with growing delays before any hashing,
and common or breached passwords refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from picotask.models.users import User as UserModel
from picotask.services.accounts.users import PasswordService
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import ErrorCode, Throttled
from picotask.services.registry import Services
from tests.instances import api_with
from tests.support import SIGN_UP, Api, Backend, orm, refusal, settings_for
from tests.test_query_cost import needs_two_instances, two_instances

PASSWORD = "correct horse battery"
HOME, ELSEWHERE = "192.0.2.1", "198.51.100.7"
LOG_IN = """mutation($input: LogInInput!) {
  logIn(input: $input) { token userErrors { field code } } }"""
UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { token userErrors { field code } } }"""


class CountingPasswords(PasswordService):
    """The real argon2 hashing, counted."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8, parallelism=1)
        self.calls = 0

    async def hash(self, password: str) -> str:
        self.calls += 1
        return await super().hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.calls += 1
        return await super().verify(password_hash, password)


LIMITS: dict[str, Any] = {
    "log_in_free_failures_per_account": 3,
    "log_in_free_failures_per_address": 5,
    "sign_up_free_per_address": 2,
    "throttle_base_delay_seconds": 1.0,
    "throttle_max_delay_seconds": 60.0,
    "throttle_window_seconds": 600.0,
}


@pytest.fixture
async def limited(database_url: str, clock: ManualClock) -> AsyncIterator[Services]:
    async with orm(database_url):
        services = Services.build(settings_for(database_url, "memory://", **LIMITS), clock)
        services.users.passwords = CountingPasswords()
        yield services


async def account(services: Services, email: str = "ann@example.com") -> None:
    await services.users.sign_up(
        email=email, password=PASSWORD, display_name="Ann", country="DE", client_address=HOME
    )


async def log_in(
    services: Services, password: str, email: str = "ann@example.com", address: str = HOME
) -> object:
    """The refusal's code, "throttled" with the wait, or "ok"."""
    try:
        code = await refusal(
            services.users.log_in(email=email, password=password, client_address=address)
        )
    except Throttled as e:
        return ("throttled", e.retry_after)
    return code or "ok"


async def test_failed_log_ins_make_the_account_wait_longer_each_time(
    limited: Services, clock: ManualClock
) -> None:
    await account(limited)
    wrong = ErrorCode.INVALID_CREDENTIALS
    assert [await log_in(limited, "wrong password!") for _ in range(4)] == [wrong] * 4
    # Three were free, the fourth made the account wait 1 s: the right password too.
    assert await log_in(limited, PASSWORD) == ("throttled", 1.0)
    clock.advance(1)
    assert await log_in(limited, "wrong password!") == wrong
    assert await log_in(limited, PASSWORD) == ("throttled", 2.0)
    clock.advance(2)
    assert await log_in(limited, "wrong password!") == wrong
    assert await log_in(limited, PASSWORD) == ("throttled", 4.0)
    clock.advance(4)
    assert await log_in(limited, PASSWORD) == "ok"
    # A success clears the account's count (from elsewhere: this address has used up its
    # own free failures, six in the window).
    assert [await log_in(limited, "wrong password!", address=ELSEWHERE) for _ in range(3)] == [
        wrong
    ] * 3
    assert await log_in(limited, PASSWORD, address=ELSEWHERE) == "ok"
    assert await log_in(limited, "wrong password!") == wrong
    assert await log_in(limited, PASSWORD) == ("throttled", 2.0)  # the address's 7th failure


async def test_refused_attempts_cost_no_hashing(limited: Services) -> None:
    await account(limited)
    passwords = limited.users.passwords
    assert isinstance(passwords, CountingPasswords)
    before = passwords.calls
    for _ in range(50):
        await log_in(limited, "wrong password!")
    assert passwords.calls - before == 4  # 3 free, and the one that started the wait


async def test_one_address_trying_many_accounts_waits(
    limited: Services, clock: ManualClock
) -> None:
    for n in range(6):
        email = f"user{n}@example.com"
        assert await log_in(limited, "wrong password!", email) == ErrorCode.INVALID_CREDENTIALS
    assert await log_in(limited, PASSWORD, "user6@example.com") == ("throttled", 1.0)
    await account(limited, "user7@example.com")
    elsewhere = await limited.users.log_in(
        email="user7@example.com", password=PASSWORD, client_address=ELSEWHERE
    )
    assert elsewhere.token


async def test_a_good_log_in_forgives_its_own_attempt_on_the_address(
    limited: Services,
) -> None:
    await account(limited)
    # Many people behind one address (an office, a campus): their log-ins do not add up.
    for _ in range(10):
        assert await log_in(limited, PASSWORD) == "ok"


async def test_the_count_is_forgotten_after_a_quiet_window(
    limited: Services, clock: ManualClock
) -> None:
    await account(limited)
    for _ in range(4):
        await log_in(limited, "wrong password!")
    clock.advance(600)
    assert [await log_in(limited, "wrong password!") for _ in range(3)] == [
        ErrorCode.INVALID_CREDENTIALS
    ] * 3
    assert await log_in(limited, PASSWORD) == "ok"


async def test_sign_ups_from_one_address_wait(limited: Services, clock: ManualClock) -> None:
    for n in range(3):
        await account(limited, f"user{n}@example.com")
    passwords = limited.users.passwords
    assert isinstance(passwords, CountingPasswords)
    before = passwords.calls
    with pytest.raises(Throttled) as refused:
        await account(limited, "user3@example.com")
    assert refused.value.retry_after == 1.0
    assert passwords.calls == before  # nothing hashed
    assert not await UserModel.filter(email="user3@example.com").exists()
    clock.advance(1)
    await account(limited, "user3@example.com")


async def test_changing_the_password_is_throttled_like_log_in(
    limited: Services, clock: ManualClock
) -> None:
    await account(limited)
    user = await UserModel.get(email="ann@example.com")
    for _ in range(4):
        code = await refusal(
            limited.users.update_profile(
                user, current_password="wrong password!", new_password="a brand new password"
            )
        )
        assert code == ErrorCode.INVALID_CREDENTIALS
    assert await log_in(limited, PASSWORD) == ("throttled", 1.0)


@pytest.mark.parametrize(
    ("password", "name"),
    [
        ("password1234", "Ann"),
        ("qwertyuiop123", "Ann"),
        ("P@ssw0rd1234", "Ann"),
        ("1q2w3e4r5t6y", "Ann"),
        ("aaaaaaaaaaaa", "Ann"),
        ("Quenthor Vaxbridge", "Quenthor Vaxbridge"),  # the user's own name
    ],
)
async def test_common_and_guessable_passwords_are_refused(
    services: Services, password: str, name: str
) -> None:
    code = await refusal(
        services.users.sign_up(
            email="ann@example.com",
            password=password,
            display_name=name,
            country="DE",
            client_address=HOME,
        )
    )
    assert code == ErrorCode.COMMON_PASSWORD
    assert not await UserModel.filter(email="ann@example.com").exists()


async def test_strong_passwords_pass(services: Services) -> None:
    for n, password in enumerate(["correct horse battery", "Quenthor Vaxbridge", "Tr0ub4dor&3x!"]):
        await services.users.sign_up(
            email=f"user{n}@example.com",
            password=password,
            display_name="Ann",
            country="DE",
            client_address=HOME,
        )


# Through the API, with the defaults a public deployment gets.
DEFAULTS: dict[str, Any] = {
    "log_in_free_failures_per_account": 5,
    "log_in_free_failures_per_address": 20,
    "sign_up_free_per_address": 10,
}


async def test_fifty_wrong_passwords_then_the_right_one(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    async with api_with(database_url, backend.broadcast, clock=clock, **DEFAULTS) as api:
        user = await api.sign_up()
        attempt = {"input": {"email": user.email, "password": "wrong password!"}}
        answers = [await api.post(LOG_IN, attempt) for _ in range(50)]
        assert [a.status_code for a in answers] == [200] * 6 + [429] * 44
        assert answers[0].json()["data"]["logIn"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
        refused = answers[-1]
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        assert body["data"] is None
        assert body["errors"][0]["path"] == ["logIn"]
        assert body["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfterSeconds": 1}

        right = {"input": {"email": user.email, "password": PASSWORD}}
        assert (await api.post(LOG_IN, right)).status_code == 429
        clock.advance(1)
        assert (await api.gql(LOG_IN, right))["logIn"]["token"]


async def test_sign_ups_from_one_address_get_429(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    async with api_with(database_url, backend.broadcast, clock=clock, **DEFAULTS) as api:
        for _ in range(11):
            await api.sign_up()
        answer = await api.post(
            SIGN_UP,
            {
                "input": {
                    "email": "late@example.com",
                    "password": PASSWORD,
                    "displayName": "Late",
                    "country": "DE",
                }
            },
        )
        assert answer.status_code == 429
        assert answer.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_a_common_password_is_a_user_error(api: Api) -> None:
    data = await api.gql(
        SIGN_UP,
        {
            "input": {
                "email": "ann@example.com",
                "password": "password1234",
                "displayName": "Ann",
                "country": "DE",
            }
        },
    )
    assert data["signUp"]["userErrors"] == [
        {
            "field": ["input", "password"],
            "code": "COMMON_PASSWORD",
            "message": "password is too common or too easy to guess; a few unrelated words "
            "make a strong one.",
        }
    ]
    user = await api.sign_up()
    change = {"input": {"currentPassword": PASSWORD, "newPassword": "qwertyuiop123"}}
    payload = (await api.gql(UPDATE, change, user.token))["updateProfile"]
    assert payload == {
        "token": None,
        "userErrors": [{"field": ["input", "newPassword"], "code": "COMMON_PASSWORD"}],
    }


@needs_two_instances
async def test_instances_on_one_redis_share_the_throttle(
    database_url: str, backend: Backend
) -> None:
    assert backend.broadcast.startswith("redis"), "needs PICOTASK_TEST_BROADCAST_URL (Redis)"
    limits = {**DEFAULTS, "throttle_base_delay_seconds": 600.0, "throttle_max_delay_seconds": 600}
    async with two_instances(database_url, backend.broadcast, **limits) as (here, there):
        user = await here.sign_up()
        wrong = {"input": {"email": user.email, "password": "wrong password!"}}
        for api in (here, there, here, there, here, there):  # 5 free, the 6th: 600 s
            assert (await api.post(LOG_IN, wrong)).status_code == 200
        right = {"input": {"email": user.email, "password": PASSWORD}}
        assert (await here.post(LOG_IN, right)).status_code == 429
        assert (await there.post(LOG_IN, right)).status_code == 429
