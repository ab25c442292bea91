"""Hire groups (private work) and qualifications through the API: who sees and takes what in
`tasks`, `node`, the live feed and claims; bad input and authorization."""

from __future__ import annotations

from typing import Any

from picotask.models.groups import HireGroup
from picotask.models.qualifications import Qualification
from picotask.models.quality import GoldItem
from picotask.models.tasks import Task
from picotask.models.trust import Message, TaskReport
from picotask.schema.relay import to_global_id
from tests.support import Api, User, assert_ledger_balanced, count_queries, next_data, nothing_more
from tests.test_batches import EXPORT, create_batch
from tests.test_marketplace_api import CLAIM, SUBMIT, create, employer
from tests.test_quality import SET_GOLD
from tests.test_trust import REPORT, SEND, THREAD

GROUP = """mutation($name: String!) { createHireGroup(input: {name: $name}) {
  hireGroup { id name } userErrors { field code message } } }"""
ADD = """mutation($g: ID!, $s: ID!) { addToHireGroup(input: {groupId: $g, submissionId: $s}) {
  hireGroup { id } userErrors { field code } } }"""
REMOVE = """mutation($g: ID!, $w: ID!) { removeFromHireGroup(input: {groupId: $g, workerId: $w}) {
  hireGroup { id } userErrors { field code } } }"""
MEMBERS = """query($id: ID!) { node(id: $id) { ... on HireGroup { name members {
  edges { node { id } } } } } }"""
MY_GROUPS = "{ myHireGroups { edges { node { name employer { id } } } } }"
TASKS = "{ tasks { edges { node { id } } } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
FEED = "subscription { taskFeed { kind task { id } } }"
QUAL = """mutation($name: String!) { createQualification(input: {name: $name,
  description: "Knows the style guide"}) { qualification { id name } userErrors { code } } }"""
GRANT = """mutation($q: ID!, $w: ID!, $s: Int!) {
  grantQualification(input: {qualificationId: $q, workerId: $w, score: $s}) {
  grant { score qualification { name } worker { id } } userErrors { field code } } }"""
REVOKE = """mutation($q: ID!, $w: ID!) { revokeQualification(input: {qualificationId: $q,
  workerId: $w}) { qualification { id } userErrors { field code } } }"""
MY_QUALS = "{ myQualifications { edges { node { score qualification { id name } } } } }"
REQUIRES = """query($id: ID!) { task(id: $id) { targeting { hireGroupIds
  requiredQualifications { minScore qualification { id name description } } } } }"""


async def past_worker(api: Api, boss: User) -> tuple[User, str]:
    """A worker with a submission on one of the employer's tasks: (worker, submission id)."""
    task_id = (await create(api, boss, slots=1))["task"]["id"]
    worker = await api.sign_up()
    sid = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]["submission"]["id"]
    return worker, sid


async def new_group(api: Api, boss: User, name: str = "Trusted") -> str:
    payload = (await api.gql(GROUP, {"name": name}, boss.token))["createHireGroup"]
    assert payload["userErrors"] == []
    group_id: str = payload["hireGroup"]["id"]
    return group_id


def ids(data: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in data["tasks"]["edges"]]


async def test_private_work_is_invisible_outside_its_groups(api: Api) -> None:
    boss = await employer(api)
    member, sid = await past_worker(api, boss)
    outsider = await api.sign_up()
    group = await new_group(api, boss)
    assert (await api.gql(ADD, {"g": group, "s": sid}, boss.token))["addToHireGroup"][
        "userErrors"
    ] == []
    assert (await api.gql(ADD, {"g": group, "s": sid}, boss.token))["addToHireGroup"][
        "userErrors"
    ] == []  # adding twice changes nothing

    async with api.ws(member.token) as inside, api.ws(outsider.token) as outside:
        await inside.subscribe("feed", FEED)
        await outside.subscribe("feed", FEED)
        private = (await create(api, boss, targeting={"hireGroupIds": [group]}))["task"]
        batch = (await create_batch(api, boss, targeting={"hireGroupIds": [group]}))["task"]
        assert (await next_data(inside, "feed"))["taskFeed"]["task"]["id"] == private["id"]
        assert (await next_data(inside, "feed"))["taskFeed"]["task"]["id"] == batch["id"]
        assert await nothing_more(outside)

    assert set(ids(await api.gql(TASKS, token=member.token))) == {private["id"], batch["id"]}
    assert ids(await api.gql(TASKS, token=outsider.token)) == []
    assert (await api.gql(NODE, {"id": private["id"]}, member.token))["node"] is not None
    assert (await api.gql(NODE, {"id": private["id"]}, outsider.token))["node"] is None
    assert (await api.gql(NODE, {"id": private["id"]}, boss.token))["node"] is not None
    refused = (await api.gql(CLAIM, {"id": private["id"]}, outsider.token))["claimTask"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    taken = (await api.gql(CLAIM, {"id": batch["id"]}, member.token))["claimTask"]
    assert taken["userErrors"] == []

    # The member sees the group's name and employer, never who else is in it.
    mine = await api.gql(MY_GROUPS, token=member.token)
    assert mine["myHireGroups"]["edges"] == [
        {"node": {"name": "Trusted", "employer": {"id": boss.id}}}
    ]
    # null for anyone but its employer, so one fragment serves both screens
    assert await api.gql(MEMBERS, {"id": group}, member.token) == {
        "node": {"name": "Trusted", "members": None}
    }
    listed = await api.gql(MEMBERS, {"id": group}, boss.token)
    assert listed["node"]["members"]["edges"] == [{"node": {"id": member.id}}]
    assert (await api.gql(NODE, {"id": group}, outsider.token))["node"] is None

    removed = await api.gql(REMOVE, {"g": group, "w": member.id}, boss.token)
    assert removed["removeFromHireGroup"]["userErrors"] == []
    assert (await api.gql(NODE, {"id": private["id"]}, member.token))["node"] is None
    assert ids(await api.gql(TASKS, token=member.token)) == []
    await assert_ledger_balanced()


async def test_private_work_answers_outsiders_as_an_id_never_used(api: Api) -> None:
    """Task ids are sequential: whatever an outsider sends about a private task answers
    exactly as for a made-up id, and nothing is written nor anyone told."""
    boss, rival = await employer(api), await employer(api)
    member, sid = await past_worker(api, boss)
    group = await new_group(api, boss)
    await api.gql(ADD, {"g": group, "s": sid}, boss.token)
    private = (await create_batch(api, boss, targeting={"hireGroupIds": [group]}))["task"]["id"]
    made_up = to_global_id("Task", 10_000_000)
    exact = {"label": "Verdict", "match": "EXACT", "value": "yes"}
    asks: list[tuple[str, dict[str, Any]]] = [
        (SEND, {"body": "Hello?"}),
        (THREAD, {}),
        (REPORT, {"reason": "SCAM"}),
        (EXPORT, {}),
        (SET_GOLD, {"input": {"items": [{"position": 1, "answers": [exact]}]}}),
    ]
    for outsider in (await api.sign_up(), rival):
        for query, variables in asks:

            async def ask(
                task_id: str, query: str = query, variables: Any = variables, who: User = outsider
            ) -> Any:
                given = dict(variables)
                if "input" in given:
                    given["input"] = {**given["input"], "taskId": task_id}
                else:
                    given["task"] = given["id"] = task_id
                used = {k: v for k, v in given.items() if f"${k}" in query}
                response = await api.post(query, used, who.token)
                body = response.json()
                body.pop("extensions", None)  # the request's cost budget, which moves on
                return response.status_code, body

            assert await ask(private) == await ask(made_up), query
    assert await Message.all().count() == 0
    assert await TaskReport.all().count() == 0
    assert await GoldItem.all().count() == 0
    # Its members and its employer still write about it.
    sent = await api.gql(SEND, {"task": private, "body": "A question"}, member.token)
    assert sent["sendMessage"]["userErrors"] == []
    thread = await api.gql(THREAD, {"task": private, "worker": member.id}, boss.token)
    assert thread["messages"]["totalCount"] == 1


async def test_groups_refuse_bad_input_and_other_employers(api: Api) -> None:
    boss, rival = await employer(api), await employer(api)
    group = await new_group(api, boss)
    twice = (await api.gql(GROUP, {"name": "Trusted"}, boss.token))["createHireGroup"]
    assert [(e["code"], e["field"]) for e in twice["userErrors"]] == [
        ("DUPLICATE", ["input", "name"])
    ]
    empty = (await api.gql(GROUP, {"name": "  "}, boss.token))["createHireGroup"]
    assert [e["code"] for e in empty["userErrors"]] == ["TOO_SHORT"]
    worker, sid = await past_worker(api, rival)
    # The rival's group, or a submission on someone else's task: nothing is written.
    rivals_group = await new_group(api, rival)
    on_theirs = (await api.gql(ADD, {"g": group, "s": sid}, boss.token))["addToHireGroup"]
    assert [(e["code"], e["field"]) for e in on_theirs["userErrors"]] == [
        ("NOT_FOUND", ["input", "submissionId"])
    ]
    not_mine = (await api.gql(ADD, {"g": rivals_group, "s": sid}, boss.token))["addToHireGroup"]
    assert [e["code"] for e in not_mine["userErrors"]] == ["NOT_FOUND"]
    payload = await create(api, boss, targeting={"hireGroupIds": [group, rivals_group]})
    assert payload["task"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "targeting", "hireGroupIds", "1"])
    ]
    batch = await create_batch(api, boss, targeting={"hireGroupIds": [rivals_group]})
    assert [e["code"] for e in batch["userErrors"]] == ["NOT_FOUND"]
    assert await Task.exclude(target_groups="").count() == 0
    gone = (await api.gql(REMOVE, {"g": group, "w": worker.id}, boss.token))["removeFromHireGroup"]
    assert [(e["code"], e["field"]) for e in gone["userErrors"]] == [
        ("NOT_FOUND", ["input", "workerId"])
    ]
    assert await HireGroup.all().count() == 2


async def test_qualifications_by_hand_gate_claims_tasks_and_the_feed(api: Api) -> None:
    boss = await employer(api)
    skilled, novice = await api.sign_up(), await api.sign_up()
    qual = (await api.gql(QUAL, {"name": "Style guide"}, boss.token))["createQualification"]
    qid = qual["qualification"]["id"]
    granted = await api.gql(GRANT, {"q": qid, "w": skilled.id, "s": 90}, boss.token)
    assert granted["grantQualification"] == {
        "grant": {
            "score": 90,
            "qualification": {"name": "Style guide"},
            "worker": {"id": skilled.id},
        },
        "userErrors": [],
    }
    await api.gql(GRANT, {"q": qid, "w": novice.id, "s": 40}, boss.token)
    requirement = [{"qualificationId": qid, "minScore": 80}]
    async with api.ws(skilled.token) as good, api.ws(novice.token) as weak:
        await good.subscribe("feed", FEED)
        await weak.subscribe("feed", FEED)
        task = (await create(api, boss, targeting={"requiredQualifications": requirement}))["task"]
        assert (await next_data(good, "feed"))["taskFeed"]["task"]["id"] == task["id"]
        assert await nothing_more(weak)
    assert ids(await api.gql(TASKS, token=skilled.token)) == [task["id"]]
    assert ids(await api.gql(TASKS, token=novice.token)) == []
    # Everyone may read what a task requires (it is not private work).
    shown = (await api.gql(REQUIRES, {"id": task["id"]}, novice.token))["task"]["targeting"]
    assert shown == {
        "hireGroupIds": [],
        "requiredQualifications": [
            {
                "minScore": 80,
                "qualification": {
                    "id": qid,
                    "name": "Style guide",
                    "description": "Knows the style guide",
                },
            }
        ],
    }
    refused = (await api.gql(CLAIM, {"id": task["id"]}, novice.token))["claimTask"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ELIGIBLE"]
    assert (await api.gql(MY_QUALS, token=novice.token))["myQualifications"]["edges"] == [
        {"node": {"score": 40, "qualification": {"id": qid, "name": "Style guide"}}}
    ]
    assert (await api.gql(REVOKE, {"q": qid, "w": skilled.id}, boss.token))["revokeQualification"][
        "userErrors"
    ] == []
    assert ids(await api.gql(TASKS, token=skilled.token)) == []
    refused = (await api.gql(CLAIM, {"id": task["id"]}, skilled.token))["claimTask"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ELIGIBLE"]


async def test_a_qualification_test_grants_by_expected_answers_it_never_shows(api: Api) -> None:
    boss = await employer(api)
    qid = (await api.gql(QUAL, {"name": "Birds"}, boss.token))["createQualification"][
        "qualification"
    ]["id"]
    test = {
        "qualificationId": qid,
        "expectedAnswers": [
            {"label": "Bird", "value": "Robin"},
            {"label": "Colour", "value": "red"},
        ],
    }
    fields = [{"label": "Bird", "kind": "TEXT"}, {"label": "Colour", "kind": "TEXT"}]
    payload = await create(api, boss, proofFields=fields, qualificationTest=test, slots=3)
    assert payload["userErrors"] == []
    task_id = payload["task"]["id"]
    # Nothing a worker can read of the task holds the expected answers.
    seen = await api.post(
        "query($id: ID!) { task(id: $id) { instructions proofFields { label } targeting {"
        " requiredQualifications { minScore } } } }",
        {"id": task_id},
        (await api.sign_up()).token,
    )
    assert "Bird" in seen.text
    assert "Robin" not in seen.text
    gated = (
        await create(
            api,
            boss,
            targeting={"requiredQualifications": [{"qualificationId": qid, "minScore": 50}]},
        )
    )["task"]

    anyone = (
        await create(
            api,
            boss,
            targeting={"requiredQualifications": [{"qualificationId": qid, "minScore": 0}]},
        )
    )["task"]
    ace, half, miss = await api.sign_up(), await api.sign_up(), await api.sign_up()
    await api.gql(GRANT, {"q": qid, "w": miss.id, "s": 90}, boss.token)  # by hand, then tested
    for worker, answers in (
        (ace, [{"label": "Bird", "value": " robin "}, {"label": "Colour", "value": "Red"}]),
        (half, [{"label": "Bird", "value": "Robin"}, {"label": "Colour", "value": "blue"}]),
        (miss, [{"label": "Bird", "value": "Crow"}, {"label": "Colour", "value": "blue"}]),
    ):
        sid = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]["submission"]["id"]
        sent = (await api.gql(SUBMIT, {"id": sid, "answers": answers}, worker.token))["submitProof"]
        assert sent["userErrors"] == []
    scores = {
        w.id: (await api.gql(MY_QUALS, token=w.token))["myQualifications"]["edges"][0]["node"][
            "score"
        ]
        for w in (ace, half, miss)
    }
    # Every scored test records its score, 0 too: it replaces the 90 given by hand.
    assert scores == {ace.id: 100, half.id: 50, miss.id: 0}
    assert set(ids(await api.gql(TASKS, token=half.token))) == {gated["id"], anyone["id"]}
    assert ids(await api.gql(TASKS, token=miss.token)) == [anyone["id"]]
    untested = await api.sign_up()
    assert ids(await api.gql(TASKS, token=untested.token)) == []  # the test task is full
    await assert_ledger_balanced()


async def test_qualifications_refuse_bad_input_and_other_employers(api: Api) -> None:
    boss, rival = await employer(api), await employer(api)
    worker = await api.sign_up()
    mine = (await api.gql(QUAL, {"name": "Mine"}, boss.token))["createQualification"]
    theirs = (await api.gql(QUAL, {"name": "Theirs"}, rival.token))["createQualification"]
    qid, other = mine["qualification"]["id"], theirs["qualification"]["id"]
    twice = (await api.gql(QUAL, {"name": "Mine"}, boss.token))["createQualification"]
    assert [e["code"] for e in twice["userErrors"]] == ["DUPLICATE"]
    foreign = await api.gql(GRANT, {"q": other, "w": worker.id, "s": 100}, boss.token)
    assert [(e["code"], e["field"]) for e in foreign["grantQualification"]["userErrors"]] == [
        ("NOT_FOUND", ["input", "qualificationId"])
    ]
    too_high = await api.gql(GRANT, {"q": qid, "w": worker.id, "s": 101}, boss.token)
    assert [e["code"] for e in too_high["grantQualification"]["userErrors"]] == ["OUT_OF_RANGE"]
    for targeting, field in (
        ({"requiredQualifications": [{"qualificationId": other}]}, ["0", "qualificationId"]),
        (
            {"requiredQualifications": [{"qualificationId": qid, "minScore": 120}]},
            ["0", "minScore"],
        ),
    ):
        payload = await create(api, boss, targeting=targeting)
        assert payload["userErrors"][0]["field"] == [
            "input",
            "targeting",
            "requiredQualifications",
            *field,
        ]
    test = {"qualificationId": qid, "expectedAnswers": [{"label": "Nope", "value": "x"}]}
    payload = await create(api, boss, qualificationTest=test)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "qualificationTest", "expectedAnswers", "0"])
    ]
    assert await Task.all().count() == 0
    errors = await api.errors(
        "query($id: ID!) { node(id: $id) { ... on Qualification { holders { totalCount } } } }",
        {"id": qid},
        worker.token,
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await Qualification.all().count() == 2


async def test_tasks_with_groups_and_qualifications_cost_the_same_for_any_page(api: Api) -> None:
    boss = await employer(api, "1000.00")
    worker, sid = await past_worker(api, boss)
    group = await new_group(api, boss)
    await api.gql(ADD, {"g": group, "s": sid}, boss.token)
    qid = (await api.gql(QUAL, {"name": "Q"}, boss.token))["createQualification"]["qualification"][
        "id"
    ]
    await api.gql(GRANT, {"q": qid, "w": worker.id, "s": 100}, boss.token)
    targeting = {"hireGroupIds": [group], "requiredQualifications": [{"qualificationId": qid}]}
    for _ in range(8):
        await create(api, boss, targeting=targeting)
    query = """query($first: Int) { tasks(first: $first) { edges { node { id targeting {
      hireGroupIds requiredQualifications { minScore qualification { name } } } } } } }"""
    with count_queries() as few:
        await api.gql(query, {"first": 2}, worker.token)
    with count_queries() as many:
        data = await api.gql(query, {"first": 8}, worker.token)
    assert len(data["tasks"]["edges"]) == 8
    assert many.count == few.count, many.statements
