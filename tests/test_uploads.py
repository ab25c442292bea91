"""Screenshots as proof, over real HTTP, with the images on local disk and in S3-compatible
storage (a moto server on loopback, started by the tests): upload, submit, review; who may
fetch them; reused screenshots flagged; bad input refused with nothing stored; the sweeper."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from picotask.models.users import User as UserModel
from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from picotask.services.work.proofs import MAX_TEXT_ANSWER
from tests.images import (
    GPS_IFD,
    cropped_copy,
    decoded,
    encoded,
    jpeg_with_gps,
    noise_png,
    png_bomb,
    png_header_on_garbage,
    screenshot,
)
from tests.support import Api, Backend, LiveServer, User, count_queries, settings_for
from tests.test_marketplace_api import APPROVE, CLAIM, create, employer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_KEYS = {"s3_access_key_id": "test", "s3_secret_access_key": "test", "s3_region": "us-east-1"}
# Small enough that the tests can go over them cheaply.
LIMITS = {"max_image_bytes": 2_000_000, "max_image_pixels": 4_000_000, "max_images_per_answer": 3}

CREATE_UPLOAD = """mutation($input: CreateUploadInput!) { createUpload(input: $input) {
  upload { id purpose status contentType size expiresAt image { url } }
  uploadUrl userErrors { field code message } } }"""
SUBMIT = """mutation($id: ID!, $answers: [ProofAnswerInput!]!) {
  submitProof(input: {submissionId: $id, answers: $answers}) {
  submission { id status answers { label value images { id url thumbnailUrl width height
    size contentType } } }
  userErrors { field code message } } }"""
SUBMISSION = """query($id: ID!) { node(id: $id) { ... on Submission { id status
  answers { label value images { id url thumbnailUrl width height size contentType expiresAt } }
  imageMatches { distance sameTask image { id } otherImage { id }
    otherSubmission { id worker { id } } } } } }"""
REVISE = """mutation($id: ID!) { requestRevision(input: {submissionId: $id, comment: "Crop less"})
  { submission { status } userErrors { code } } }"""
PROOF_FIELDS = [{"label": "Note", "kind": "TEXT"}, {"label": "Screenshot", "kind": "IMAGE"}]


@dataclass
class Store:
    """Where the app under test keeps its objects, to look at them from outside."""

    kind: str
    root: Path | None = None
    bucket: str = ""
    endpoint: str = ""

    def keys(self) -> set[str]:
        if self.root is not None:
            if not self.root.exists():
                return set()
            return {
                str(p.relative_to(self.root))
                for p in self.root.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            }
        listing = s3_client(self.endpoint).list_objects_v2(Bucket=self.bucket)
        return {item["Key"] for item in listing.get("Contents", [])}


def s3_client(endpoint: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store("local", root=tmp_path / "uploads")
    endpoint: str = request.getfixturevalue("s3_endpoint")
    bucket = f"picotask-{secrets.token_hex(6)}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return Store("s3", bucket=bucket, endpoint=endpoint)


@pytest.fixture
async def api(
    database_url: str, backend: Backend, clock: ManualClock, store: Store
) -> AsyncIterator[Api]:
    """The app over HTTP, its images in the parametrized storage."""
    if store.root is not None:
        where: dict[str, Any] = {"storage_url": f"file://{store.root}"}
    else:
        where = {"storage_url": f"s3://{store.bucket}/app", "s3_endpoint_url": store.endpoint}
        where.update(S3_KEYS)
    settings = settings_for(
        database_url, backend.broadcast, background_workers=False, **where, **LIMITS
    )
    async with (
        LiveServer(create_app(settings, clock)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        yield Api(client, server, clock)


# Steps.


async def open_slot(
    api: Api,
    user: User,
    size: int,
    purpose: str = "PROOF_IMAGE",
    content_type: str = "image/png",
) -> dict[str, Any]:
    variables = {"input": {"purpose": purpose, "contentType": content_type, "size": size}}
    payload: dict[str, Any] = (await api.gql(CREATE_UPLOAD, variables, user.token))["createUpload"]
    return payload


async def upload(
    api: Api, user: User, data: bytes, purpose: str = "PROOF_IMAGE", content_type: str = ""
) -> str:
    """An upload with its bytes in: its id."""
    slot = await open_slot(api, user, len(data), purpose, content_type or "image/png")
    assert slot["userErrors"] == [], slot
    response = await api.client.put(slot["uploadUrl"], content=data)
    assert response.status_code == 200, response.text
    upload_id: str = slot["upload"]["id"]
    assert response.json()["upload"]["id"] == upload_id
    return upload_id


async def image_task(api: Api, boss: User, slots: int = 5) -> str:
    payload = await create(api, boss, slots=slots, proofFields=PROOF_FIELDS)
    assert payload["userErrors"] == [], payload
    task_id: str = payload["task"]["id"]
    return task_id


async def claim(api: Api, worker: User, task_id: str) -> str:
    data = await api.gql(CLAIM, {"id": task_id}, worker.token)
    assert data["claimTask"]["userErrors"] == [], data
    sid: str = data["claimTask"]["submission"]["id"]
    return sid


async def submit(api: Api, worker: User, sid: str, upload_ids: list[str]) -> dict[str, Any]:
    answers = [
        {"label": "Note", "value": "Signed up as ann"},
        {"label": "Screenshot", "uploadIds": upload_ids},
    ]
    payload: dict[str, Any] = (
        await api.gql(SUBMIT, {"id": sid, "answers": answers}, worker.token)
    )["submitProof"]
    return payload


async def prove(api: Api, worker: User, task_id: str, data: bytes) -> str:
    """Claim, upload the screenshot, submit: the submission's id."""
    sid = await claim(api, worker, task_id)
    result = await submit(api, worker, sid, [await upload(api, worker, data)])
    assert result["userErrors"] == [], result
    return sid


async def seen_by(api: Api, sid: str, user: User | None) -> dict[str, Any] | None:
    data = await api.gql(SUBMISSION, {"id": sid}, user.token if user else None)
    node: dict[str, Any] | None = data["node"]
    return node


def images_of(submission: dict[str, Any]) -> list[dict[str, Any]]:
    [_, screenshot_answer] = submission["answers"]
    assert screenshot_answer["label"] == "Screenshot"
    found: list[dict[str, Any]] = screenshot_answer["images"]
    return found


async def log_in(api: Api, user: User) -> User:
    log_in = """mutation($email: String!) { logIn(input: {email: $email,
      password: "correct horse battery"}) { token } }"""
    token = (await api.gql(log_in, {"email": user.email}))["logIn"]["token"]
    return User(user.id, user.email, token)


async def fetch(api: Api, url: str) -> httpx.Response:
    return await api.client.get(url)


# The whole flow.


async def test_upload_submit_and_review_a_screenshot(api: Api, store: Store) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    worker = await api.sign_up()
    photo = jpeg_with_gps(screenshot(1))

    slot = await open_slot(api, worker, len(photo), content_type="image/jpeg")
    assert slot["userErrors"] == []
    assert slot["upload"]["status"] == "PENDING"
    assert slot["upload"]["image"] is None
    assert slot["uploadUrl"].startswith(f"{api.server.http_url}/uploads/")
    put = await api.client.put(slot["uploadUrl"], content=photo)
    assert put.status_code == 200, put.text
    received = put.json()["upload"]
    assert received["status"] == "READY"
    assert (received["width"], received["height"], received["contentType"]) == (
        540,
        960,
        "image/jpeg",
    )
    assert len(store.keys()) == 2  # the image and its thumbnail

    sid = await claim(api, worker, task_id)
    sent = await submit(api, worker, sid, [slot["upload"]["id"]])
    assert sent["userErrors"] == []
    [note, shot] = sent["submission"]["answers"]
    assert note == {"label": "Note", "value": "Signed up as ann", "images": []}
    assert shot["value"] == ""
    [image] = shot["images"]
    assert image["id"] == slot["upload"]["id"]
    assert (image["width"], image["height"], image["contentType"]) == (540, 960, "image/jpeg")

    # The employer reviews it: the image, cleaned of its GPS position, and its thumbnail.
    seen = await seen_by(api, sid, boss)
    assert seen is not None
    [image] = images_of(seen)
    response = await fetch(api, image["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private")
    assert len(response.content) == image["size"]
    stored = decoded(response.content)
    assert stored.size == (540, 960)
    assert not stored.getexif().get_ifd(GPS_IFD)
    assert b"PhoneMaker" not in response.content
    thumb = await fetch(api, image["thumbnailUrl"])
    assert thumb.headers["content-type"] == "image/webp"
    assert max(decoded(thumb.content).size) == 320

    approved = (await api.gql(APPROVE, {"id": sid}, boss.token))["approveSubmission"]
    assert approved["submission"]["status"] == "APPROVED"
    # The worker still sees their own proof.
    mine = await seen_by(api, sid, worker)
    assert mine is not None
    assert [i["id"] for i in images_of(mine)] == [image["id"]]


async def test_nobody_else_can_fetch_a_proof_image(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    worker = await api.sign_up()
    sid = await prove(api, worker, task_id, encoded(screenshot(2)))
    seen = await seen_by(api, sid, boss)
    assert seen is not None
    [image] = images_of(seen)
    url = httpx.URL(image["url"])
    assert (await fetch(api, image["url"])).status_code == 200

    other_worker = await api.sign_up()
    other_boss = await employer(api)
    other_task = await image_task(api, other_boss)
    other_sid = await prove(api, other_worker, other_task, encoded(screenshot(3)))
    theirs = await seen_by(api, other_sid, other_boss)
    assert theirs is not None
    their_url = httpx.URL(images_of(theirs)[0]["url"])

    for outsider in (None, other_worker, other_boss):
        assert await seen_by(api, sid, outsider) is None  # the submission is invisible
    # The image's address alone, a made-up signature, another image's signature, or a link
    # from the future: all refused.
    for attempt in (
        url.copy_with(query=None),
        url.copy_with(query=b"expires=9999999999&signature=" + b"0" * 64),
        url.copy_with(query=their_url.query),
        url.copy_with(params={"expires": "9999999999", "signature": url.params["signature"]}),
    ):
        response = await fetch(api, str(attempt))
        assert response.status_code == 403, attempt
        assert not response.content.startswith(b"\xff\xd8")
    traversal = await fetch(api, f"{api.server.http_url}/proofs/..%2F..%2Fetc%2Fpasswd")
    assert traversal.status_code in {403, 404}
    # A link lives at most IMAGE_LINK_SECONDS, until the expiresAt it comes with, and stops
    # working then; asking again gives a fresh one.
    expires = datetime.fromisoformat(image["expiresAt"])
    left = (expires - api.clock.now()).total_seconds()
    ttl = api.services.settings.image_link_seconds
    assert ttl - max(1, min(60, ttl // 10)) < left <= ttl
    assert url.params["expires"] == str(int(expires.timestamp()))
    api.clock.advance(left - 1)
    assert (await fetch(api, image["url"])).status_code == 200
    assert (await fetch(api, image["thumbnailUrl"])).status_code == 200
    api.clock.advance(1)
    assert (await fetch(api, image["url"])).status_code == 403
    assert (await fetch(api, image["thumbnailUrl"])).status_code == 403
    again = await seen_by(api, sid, boss)
    assert again is not None
    assert (await fetch(api, images_of(again)[0]["url"])).status_code == 200


async def test_moderators_see_the_images_of_a_dispute_only(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    worker = await api.sign_up()
    sid = await prove(api, worker, task_id, encoded(screenshot(4)))
    moderator = await api.sign_up()
    await UserModel.filter(email=moderator.email).update(is_admin=True)
    assert await seen_by(api, sid, moderator) is None  # not in dispute: none of their business

    reject = """mutation($id: ID!) { rejectSubmission(input: {submissionId: $id,
      reason: WRONG_PROOF, comment: "Not the app"}) { userErrors { code } } }"""
    assert (await api.gql(reject, {"id": sid}, boss.token))["rejectSubmission"]["userErrors"] == []
    dispute = """mutation($id: ID!) { disputeRejection(input: {submissionId: $id,
      statement: "It is the app"}) { userErrors { code } } }"""
    await api.gql(dispute, {"id": sid}, worker.token)
    seen = await seen_by(api, sid, moderator)
    assert seen is not None
    [image] = images_of(seen)
    assert (await fetch(api, image["url"])).status_code == 200
    assert seen["imageMatches"] == []  # the employer's view, not the moderator's
    queue = """{ disputes { edges { node { id answers { images { id } } } } } }"""
    [edge] = (await api.gql(queue, token=moderator.token))["disputes"]["edges"]
    assert edge["node"]["answers"][1]["images"] == [{"id": image["id"]}]


# Reused screenshots.


async def test_a_cropped_reencoded_copy_by_another_account_is_flagged(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    original = screenshot(10)
    first, second, third = [await api.sign_up() for _ in range(3)]
    first_sid = await prove(api, first, task_id, encoded(original))
    copy_sid = await prove(api, second, task_id, cropped_copy(original, crop=0.03, scale=0.9))
    unrelated_sid = await prove(api, third, task_id, encoded(screenshot(11)))

    copy = await seen_by(api, copy_sid, boss)
    assert copy is not None
    [match] = copy["imageMatches"]
    first_seen = await seen_by(api, first_sid, boss)
    assert first_seen is not None
    assert match["otherSubmission"] == {"id": first_sid, "worker": {"id": first.id}}
    assert match["image"]["id"] == images_of(copy)[0]["id"]
    assert match["otherImage"]["id"] == images_of(first_seen)[0]["id"]
    assert match["sameTask"] is True
    assert 0 <= match["distance"] <= api.services.settings.image_match_max_distance

    unrelated = await seen_by(api, unrelated_sid, boss)
    assert unrelated is not None
    assert unrelated["imageMatches"] == []
    assert first_seen["imageMatches"] == []  # the first to submit it copied nobody
    # Only the employer is told.
    by_worker = await seen_by(api, copy_sid, second)
    assert by_worker is not None
    assert by_worker["imageMatches"] == []

    # The same screenshot on another task of the same employer is caught too; on another
    # employer's task it is not that employer's business.
    other_task = await image_task(api, boss)
    fourth = await api.sign_up()
    elsewhere_sid = await prove(api, fourth, other_task, encoded(original, "WEBP", quality=80))
    elsewhere = await seen_by(api, elsewhere_sid, boss)
    assert elsewhere is not None
    assert {(m["otherSubmission"]["id"], m["sameTask"]) for m in elsewhere["imageMatches"]} == {
        (first_sid, False),
        (copy_sid, False),
    }
    stranger = await employer(api)
    stranger_task = await image_task(api, stranger)
    stranger_sid = await prove(api, await api.sign_up(), stranger_task, encoded(original))
    theirs = await seen_by(api, stranger_sid, stranger)
    assert theirs is not None
    assert theirs["imageMatches"] == []


async def test_a_worker_resubmitting_their_own_image_is_not_flagged(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    worker = await api.sign_up()
    original = screenshot(20)
    sid = await prove(api, worker, task_id, encoded(original))
    first_image = images_of(await seen_by(api, sid, boss) or {})[0]["id"]
    assert (await api.gql(REVISE, {"id": sid}, boss.token))["requestRevision"]["userErrors"] == []

    # Again, cropped a little: a new upload of the same picture, and the old one kept too.
    again = await upload(api, worker, cropped_copy(original, crop=0.02, scale=1.0))
    result = await submit(api, worker, sid, [first_image, again])
    assert result["userErrors"] == [], result
    seen = await seen_by(api, sid, boss)
    assert seen is not None
    assert [i["id"] for i in images_of(seen)] == [first_image, again]
    assert seen["imageMatches"] == []

    # A revision that drops an image: it is removed by the sweeper.
    await api.gql(REVISE, {"id": sid}, boss.token)
    result = await submit(api, worker, sid, [again])
    assert result["userErrors"] == []
    assert (await api.services.sweeper.sweep()).uploads_removed == 1


# Bad input: a clear refusal, nothing stored.


async def test_slots_refuse_other_types_and_sizes(api: Api, store: Store) -> None:
    worker = await api.sign_up()
    for content_type, size, code, field in [
        ("application/pdf", 100, "UNSUPPORTED_IMAGE", "contentType"),
        ("image/gif", 100, "UNSUPPORTED_IMAGE", "contentType"),
        ("image/png", 2_000_001, "TOO_LARGE", "size"),
        ("image/png", 0, "OUT_OF_RANGE", "size"),
    ]:
        slot = await open_slot(api, worker, size, content_type=content_type)
        assert slot["upload"] is None
        assert [(e["code"], e["field"]) for e in slot["userErrors"]] == [(code, ["input", field])]
    assert store.keys() == set()


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(png_header_on_garbage(), 415, "UNSUPPORTED_IMAGE", id="png-header-garbage"),
        pytest.param(b"<html><script>1</script></html>", 415, "UNSUPPORTED_IMAGE", id="html"),
        pytest.param(encoded(screenshot(5), "GIF"), 415, "UNSUPPORTED_IMAGE", id="gif"),
        # A few hundred bytes declaring 10^10 pixels; and one just over the setting.
        pytest.param(png_bomb(100_000, 100_000), 413, "TOO_LARGE", id="bomb"),
        pytest.param(png_bomb(2_500, 2_000), 413, "TOO_LARGE", id="over-pixel-limit"),
    ],
)
async def test_bytes_that_are_not_an_acceptable_image(
    api: Api, store: Store, data: bytes, status: int, code: str
) -> None:
    worker = await api.sign_up()
    good = encoded(screenshot(5))
    slot = await open_slot(api, worker, max(len(data), len(good)))
    response = await api.client.put(slot["uploadUrl"], content=data)
    assert response.status_code == status
    body = response.json()
    assert body["upload"] is None
    assert body["userErrors"][0]["code"] == code
    assert body["userErrors"][0]["message"]
    assert store.keys() == set()
    # The slot is still open for the right file.
    assert (await api.client.put(slot["uploadUrl"], content=good)).status_code == 200


async def test_more_bytes_than_the_slot_or_the_limit(api: Api, store: Store) -> None:
    worker = await api.sign_up()
    data = encoded(screenshot(6))
    slot = await open_slot(api, worker, len(data) - 1)
    response = await api.client.put(slot["uploadUrl"], content=data)
    assert (response.status_code, response.json()["userErrors"][0]["code"]) == (413, "TOO_LARGE")

    # Past the image limit the server stops reading (the body limit of the route).
    big = noise_png(1_000, 700)
    assert len(big) > 2_000_000
    slot = await open_slot(api, worker, 2_000_000)
    response = await api.client.put(slot["uploadUrl"], content=big)
    assert response.status_code == 413
    assert response.json() == {
        "upload": None,
        "userErrors": [
            {"field": ["body"], "message": "At most 2000000 bytes.", "code": "TOO_LARGE"}
        ],
    }
    assert store.keys() == set()


async def test_an_upload_is_bigger_than_a_graphql_body_may_be(api: Api) -> None:
    """The 1 MiB body limit stays for everything but the uploads route."""
    worker = await api.sign_up()
    big = noise_png(700, 600)
    assert 1_048_576 < len(big) < 2_000_000
    await upload(api, worker, big)
    response = await api.post("query { me { id } }" + " " * len(big), token=worker.token)
    assert response.status_code == 413


async def test_wrong_token_twice_and_expired_slots(api: Api, store: Store) -> None:
    worker = await api.sign_up()
    data = encoded(screenshot(7))
    slot = await open_slot(api, worker, len(data))
    url = httpx.URL(slot["uploadUrl"])
    wrong = url.copy_with(params={"token": "x" * 43})
    assert (await api.client.put(str(wrong), content=data)).status_code == 404
    assert (await api.client.put(str(url.copy_with(query=None)), content=data)).status_code == 404
    assert (await api.client.put(slot["uploadUrl"], content=data)).status_code == 200
    again = await api.client.put(slot["uploadUrl"], content=data)
    assert (again.status_code, again.json()["userErrors"][0]["code"]) == (409, "INVALID_STATUS")
    assert len(store.keys()) == 2

    late = await open_slot(api, worker, len(data))
    api.clock.advance(api.services.settings.upload_slot_seconds)
    expired = await api.client.put(late["uploadUrl"], content=data)
    assert (expired.status_code, expired.json()["userErrors"][0]["code"]) == (
        410,
        "DEADLINE_PASSED",
    )
    assert len(store.keys()) == 2


async def test_two_puts_at_once_store_one_image(api: Api, store: Store) -> None:
    worker = await api.sign_up()
    data = encoded(screenshot(17))
    slot = await open_slot(api, worker, len(data))
    puts = await asyncio.gather(
        *(api.client.put(slot["uploadUrl"], content=data) for _ in range(3))
    )
    assert sorted(r.status_code for r in puts) == [200, 409, 409]
    assert len(store.keys()) == 2


async def test_only_put_and_no_cross_site_form(api: Api) -> None:
    worker = await api.sign_up()
    data = encoded(screenshot(8))
    slot = await open_slot(api, worker, len(data))
    form = await api.client.post(
        slot["uploadUrl"],
        content=data,
        headers={"content-type": "multipart/form-data; boundary=x", "origin": "https://evil"},
    )
    assert form.status_code == 405
    preflight = await api.client.options(
        slot["uploadUrl"],
        headers={"origin": "https://evil", "access-control-request-method": "PUT"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_uploads_used_wrongly_in_a_proof(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    other_task = await image_task(api, boss)
    worker, other = await api.sign_up(), await api.sign_up()
    sid = await claim(api, worker, task_id)
    data = encoded(screenshot(9))

    async def refused(upload_ids: list[str]) -> list[tuple[str, list[str]]]:
        result = await submit(api, worker, sid, upload_ids)
        assert result["submission"] is None
        return [(e["code"], e["field"]) for e in result["userErrors"]]

    field = ["input", "answers", "1", "uploadIds", "0"]
    theirs = await upload(api, other, data)
    assert await refused([theirs]) == [("NOT_FOUND", field)]
    assert await refused(["VXBsb2FkOjk5OTk5"]) == [("NOT_FOUND", field)]
    assert await refused(["not an id"]) == [("NOT_FOUND", field)]
    not_sent = (await open_slot(api, worker, len(data)))["upload"]["id"]
    assert await refused([not_sent]) == [("INVALID_STATUS", field)]
    avatar = await upload(api, worker, data, purpose="AVATAR")
    assert await refused([avatar]) == [("INVALID", field)]
    mine = await upload(api, worker, data)
    assert await refused([mine, mine]) == [("DUPLICATE", ["input", "answers", "1"])]
    many = [await upload(api, worker, data) for _ in range(4)]
    assert await refused(many) == [("LIMIT_REACHED", ["input", "answers", "1"])]  # 3 at most
    assert await refused([]) == [("REQUIRED", ["input", "answers", "Screenshot"])]
    value = {"label": "Screenshot", "value": "https://elsewhere.example/shot.png"}
    by_link = await api.gql(SUBMIT, {"id": sid, "answers": [value]}, worker.token)
    assert by_link["submitProof"]["userErrors"][0]["code"] == "INVALID"
    on_text = [{"label": "Note", "value": "hi", "uploadIds": [mine]}, {**value, "value": ""}]
    wrong_kind = await api.gql(SUBMIT, {"id": sid, "answers": on_text}, worker.token)
    assert [(e["code"], e["field"]) for e in wrong_kind["submitProof"]["userErrors"]] == [
        ("INVALID", ["input", "answers", "0"]),
        ("REQUIRED", ["input", "answers", "Screenshot"]),
    ]
    long_note = [{"label": "Note", "value": "n" * (MAX_TEXT_ANSWER + 1)}, {**value, "value": ""}]
    too_long = await api.gql(SUBMIT, {"id": sid, "answers": long_note}, worker.token)
    assert too_long["submitProof"]["userErrors"][0]["code"] == "TOO_LONG"

    assert (await submit(api, worker, sid, [mine]))["userErrors"] == []
    # Used once: not again, on another task.
    other_sid = await claim(api, worker, other_task)
    result = await submit(api, worker, other_sid, [mine])
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("DUPLICATE", field)]

    # A received upload left unused past its time is gone.
    unused = await upload(api, worker, data)
    api.clock.advance(api.services.settings.upload_unused_seconds)
    result = await submit(api, worker, other_sid, [unused])
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("DEADLINE_PASSED", field)]
    # And so is a slot whose bytes never came.
    result = await submit(api, worker, other_sid, [not_sent])
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("DEADLINE_PASSED", field)]


async def test_pending_uploads_per_user_are_bounded(api: Api) -> None:
    worker = await api.sign_up()
    limit = api.services.settings.max_pending_uploads_per_user
    for _ in range(limit):
        assert (await open_slot(api, worker, 100))["userErrors"] == []
    refused = await open_slot(api, worker, 100)
    assert [e["code"] for e in refused["userErrors"]] == ["LIMIT_REACHED"]
    api.clock.advance(api.services.settings.upload_slot_seconds)
    assert (await open_slot(api, worker, 100))["userErrors"] == []


# Avatars.


async def test_avatars_are_public(api: Api, store: Store) -> None:
    user = await api.sign_up()
    avatar = await upload(api, user, encoded(screenshot(12, 1_000, 800)), purpose="AVATAR")
    update = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
      viewer { user { avatarUrl } } userErrors { field code } } }"""
    result = (await api.gql(update, {"input": {"avatarUploadId": avatar}}, user.token))[
        "updateProfile"
    ]
    assert result["userErrors"] == []
    url = result["viewer"]["user"]["avatarUrl"]
    assert url.startswith(f"{api.server.http_url}/avatars/")
    public = await api.client.get(url)  # no token, no signature
    assert public.status_code == 200
    assert "public" in public.headers["cache-control"]
    assert max(decoded(public.content).size) == api.services.settings.avatar_pixels
    profile = "query($id: ID!) { node(id: $id) { ... on User { avatarUrl } } }"
    assert (await api.gql(profile, {"id": user.id}))["node"]["avatarUrl"] == url

    again = await api.gql(update, {"input": {"avatarUploadId": avatar}}, user.token)
    assert again["updateProfile"]["userErrors"] == [
        {"field": ["input", "avatarUploadId"], "code": "DUPLICATE"}
    ]
    proof = await upload(api, user, encoded(screenshot(13)))
    wrong = await api.gql(update, {"input": {"avatarUploadId": proof}}, user.token)
    assert wrong["updateProfile"]["userErrors"] == [
        {"field": ["input", "avatarUploadId"], "code": "INVALID"}
    ]
    # A link elsewhere replaces it; the uploaded one is removed by the sweeper.
    link = "https://example.com/me.png"
    changed = await api.gql(update, {"input": {"avatarUrl": link}}, user.token)
    assert changed["updateProfile"]["viewer"]["user"]["avatarUrl"] == link
    assert (await api.services.sweeper.sweep()).uploads_removed == 1
    assert (await api.client.get(url)).status_code == 404
    assert len(store.keys()) == 2  # the unused proof upload, until its time is up


# The sweeper.


async def test_unused_uploads_and_old_proof_images_are_removed(api: Api, store: Store) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss, slots=1)
    worker = await api.sign_up()
    sid = await prove(api, worker, task_id, encoded(screenshot(14)))
    copier = await api.sign_up()
    unused = await upload(api, copier, encoded(screenshot(15)))
    never_sent = await open_slot(api, copier, 100)
    assert len(store.keys()) == 4
    settings = api.services.settings

    assert (await api.services.sweeper.sweep()).uploads_removed == 0
    api.clock.advance(settings.upload_unused_seconds)
    assert (await api.services.sweeper.sweep()).uploads_removed == 1  # the image never used
    assert len(store.keys()) == 2
    # The slot never sent is kept a day past its expiry, so a late PUT hears that it expired.
    late = await api.client.put(never_sent["uploadUrl"], content=b"late")
    assert (late.status_code, late.json()["userErrors"][0]["code"]) == (410, "DEADLINE_PASSED")
    assert "expired" in late.json()["userErrors"][0]["message"]
    api.clock.advance(86_400 - settings.upload_unused_seconds + settings.upload_slot_seconds - 1)
    assert (await api.services.sweeper.sweep()).uploads_removed == 0
    api.clock.advance(1)
    assert (await api.services.sweeper.sweep()).uploads_removed == 1  # the slot never used
    node = "query($id: ID!) { node(id: $id) { ... on Upload { status } } }"
    for gone in (unused, never_sent["upload"]["id"]):
        assert (await api.gql(node, {"id": gone}, copier.token))["node"] is None

    # Approved, the task's only slot: the task closes. Its proof is kept for the retention
    # period, then removed.
    await api.gql(APPROVE, {"id": sid}, boss.token)
    api.clock.advance(settings.image_retention_seconds - 1)
    assert (await api.services.sweeper.sweep()).uploads_removed == 0
    api.clock.advance(1)
    assert (await api.services.sweeper.sweep()).uploads_removed == 1
    assert store.keys() == set()
    boss = await log_in(api, boss)  # half a year later
    seen = await seen_by(api, sid, boss)
    assert seen is not None
    assert images_of(seen) == []


async def test_an_upload_is_its_owners_business(api: Api) -> None:
    worker, other = await api.sign_up(), await api.sign_up()
    upload_id = await upload(api, worker, encoded(screenshot(16)))
    node = """query($id: ID!) { node(id: $id) { ... on Upload { id status purpose
      image { width height url } } } }"""
    mine = (await api.gql(node, {"id": upload_id}, worker.token))["node"]
    assert mine["status"] == "READY"
    assert (mine["image"]["width"], mine["image"]["height"]) == (540, 960)
    assert (await fetch(api, mine["image"]["url"])).status_code == 200
    assert (await api.gql(node, {"id": upload_id}, other.token))["node"] is None
    assert (await api.gql(node, {"id": upload_id}))["node"] is None


async def test_images_and_matches_of_a_list_cost_the_same_queries(api: Api) -> None:
    boss = await employer(api)
    task_id = await image_task(api, boss)
    original = screenshot(30)
    for copy in (encoded(original), cropped_copy(original), encoded(original, "WEBP")):
        await prove(api, await api.sign_up(), task_id, copy)
    query = """query($id: ID!, $first: Int) { node(id: $id) { ... on Task {
      submissions(first: $first) { edges { node { id answers { images { url thumbnailUrl } }
        imageMatches { distance image { url } otherImage { url } otherSubmission { id } }
      } } } } } }"""
    with count_queries() as one:
        await api.gql(query, {"id": task_id, "first": 1}, boss.token)
    with count_queries() as three:
        listed = await api.gql(query, {"id": task_id, "first": 3}, boss.token)
    edges = listed["node"]["submissions"]["edges"]
    assert [len(e["node"]["imageMatches"]) for e in edges] == [2, 1, 0]  # newest first
    # Not one query more for more submissions (fewer, even: batches fill up together).
    assert three.count <= one.count, three.statements
