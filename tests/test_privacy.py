"""What a public profile shows, and to whom: money only to the user and moderators; counts,
rates and ratings to anyone; never the email. Over HTTP and over the websocket alike."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.users import User as UserModel
from tests.support import Api, User, next_data
from tests.test_marketplace_api import create, employer

PROFILE = """query($id: ID!) { node(id: $id) { ... on User { id displayName country
  workerStats { approvedCount approvalRate earned { amount } }
  employerStats { tasksPosted approvedCount totalPaid { amount } } } } }"""
TASK_EMPLOYER = """query($id: ID!) { task(id: $id) { employer {
  workerStats { earned { amount } } employerStats { tasksPosted totalPaid { amount } } } } }"""
FEED = """subscription { taskFeed { task { employer {
  employerStats { tasksPosted totalPaid { amount } } } } } }"""
# Everything the public `User` type offers; a new field must be added here on purpose.
PUBLIC_USER_FIELDS = {
    "id",
    "displayName",
    "country",
    "skills",
    "avatarUrl",
    "bio",
    "createdAt",
    "workerStats",
    "employerStats",
}


async def _with_money(api: Api) -> User:
    """A user who has earned 12.34 as a worker and paid 56.78 as an employer."""
    user = await employer(api, display_name="Moneybags")
    await UserModel.filter(email=user.email).update(
        approved_count=3, rejected_count=1, earned=1_234, paid_out=5_678
    )
    return user


def _money(profile: dict[str, Any]) -> tuple[Any, Any]:
    return profile["workerStats"]["earned"], profile["employerStats"]["totalPaid"]


@pytest.mark.parametrize("who", ["anonymous", "another user"])
async def test_others_see_the_counts_but_not_the_money(api: Api, who: str) -> None:
    subject = await _with_money(api)
    token = None if who == "anonymous" else (await api.sign_up()).token
    profile = (await api.gql(PROFILE, {"id": subject.id}, token))["node"]
    assert profile["displayName"] == "Moneybags"
    assert profile["workerStats"]["approvedCount"] == 3
    assert profile["workerStats"]["approvalRate"] == 0.75
    assert _money(profile) == (None, None)


async def test_the_user_and_moderators_see_the_money(api: Api) -> None:
    subject = await _with_money(api)
    mine = (await api.gql(PROFILE, {"id": subject.id}, subject.token))["node"]
    assert _money(mine) == ({"amount": "12.34"}, {"amount": "56.78"})
    via_me = await api.gql(
        "{ me { user { workerStats { earned { amount } } } } }", token=subject.token
    )
    assert via_me["me"]["user"]["workerStats"]["earned"] == {"amount": "12.34"}

    moderator = await api.sign_up()
    await UserModel.filter(email=moderator.email).update(is_admin=True)
    seen = (await api.gql(PROFILE, {"id": subject.id}, moderator.token))["node"]
    assert _money(seen) == ({"amount": "12.34"}, {"amount": "56.78"})


async def test_a_task_shows_its_employer_without_the_money(api: Api) -> None:
    boss = await _with_money(api)
    task = (await create(api, boss))["task"]
    worker = await api.sign_up()
    for token in (None, worker.token):
        shown = (await api.gql(TASK_EMPLOYER, {"id": task["id"]}, token))["task"]["employer"]
        assert shown["employerStats"]["tasksPosted"] == 1
        assert _money(shown) == (None, None)
    own = (await api.gql(TASK_EMPLOYER, {"id": task["id"]}, boss.token))["task"]["employer"]
    assert _money(own) == ({"amount": "12.34"}, {"amount": "56.78"})


async def test_the_live_feed_shows_each_worker_the_employer_without_the_money(
    api: Api,
) -> None:
    boss = await _with_money(api)
    worker = await api.sign_up()
    async with api.ws(worker.token) as ws:
        await ws.subscribe("feed", FEED)
        await create(api, boss)
        stats = (await next_data(ws, "feed"))["taskFeed"]["task"]["employer"]["employerStats"]
    assert stats == {"tasksPosted": 1, "totalPaid": None}


async def test_the_public_profile_has_no_private_field(api: Api) -> None:
    data = await api.gql('{ __type(name: "User") { fields { name } } }')
    assert {f["name"] for f in data["__type"]["fields"]} == PUBLIC_USER_FIELDS
