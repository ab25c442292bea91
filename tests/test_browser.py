"""The reference web app (`web/`) in a real browser: headless Chromium (Debian's, driven by
Playwright) against `picotask serve` as `make run` starts it, with the app built as `make run`
builds it (`make web`). An employer and a worker in two browser contexts do a whole job, every
change arriving live; then the app, served from another origin, works through CORS.

Skipped only when Chromium or npm is missing on the machine (`.ci/run` installs Chromium).
Screenshots of the main screens are written to var/screenshots/ (ignored by git); with
PICOTASK_SCREENSHOTS=docs/screenshots (`make screenshots`) into the set the README shows."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import fcntl
import functools
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pyotp
import pytest
from PIL import Image
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    WebSocket,
    WebSocketRoute,
    async_playwright,
    expect,
)

from tests.instances import Spawned, free_port, spawned_instance
from tests.mail_server import MailServer, links, token_from
from tests.support import Backend

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"
# Relative to the repository; every run writes them, so by default out of git's sight.
SHOTS = ROOT / os.environ.get("PICOTASK_SCREENSHOTS", "var/screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1200, height=800)

# CI sets PICOTASK_TEST_BROWSER=required: there a missing browser or npm fails, never skips.
OPTIONAL = os.environ.get("PICOTASK_TEST_BROWSER") != "required"

pytestmark = [
    pytest.mark.skipif(
        OPTIONAL and not Path(CHROMIUM).exists(), reason=f"Chromium is not installed at {CHROMIUM}"
    ),
    pytest.mark.skipif(
        OPTIONAL and shutil.which("npm") is None, reason="Node.js (npm) is not installed"
    ),
    # The first build (npm ci, vite) on a loaded 2-core machine.
    pytest.mark.timeout(300),
]
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def web_build() -> Path:
    """The app built as `make run` builds it: only when missing or older than its sources.
    `make pytest` runs the SQLite and PostgreSQL passes side by side: the lock makes the
    second wait for the first's build (and then find it fresh) instead of racing it."""
    lock = ROOT / "var" / "web-build.lock"
    lock.parent.mkdir(exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)  # noqa: S607 -- make from PATH
    assert (DIST / "index.html").is_file()
    return DIST


class Camera:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def __call__(self, page: Page, name: str, full_page: bool = False) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(self.directory / f"{name}.png"), full_page=full_page)


@pytest.fixture(scope="session")
def camera(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Camera:
    """Into SHOTS from the SQLite pass; the PostgreSQL pass, running beside it, keeps its own
    apart (the same screens: one set is kept)."""
    if backend.database == "sqlite":
        return Camera(SHOTS)
    return Camera(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def context(browser: Browser, viewport: ViewportSize) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    try:
        yield ctx
    finally:
        await ctx.close()


async def sign_up(
    page: Page, base: str, email: str, name: str, camera: Camera | None = None
) -> None:
    await page.goto(f"{base}/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Display name").fill(name)
    await page.get_by_label("Country").fill("DE")
    if camera:
        await camera(page, "sign-up")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    await expect(page.get_by_text(name, exact=True)).to_be_visible()
    # Set once loaded: still there at the end means nothing reloaded the page.
    await page.evaluate("window.__loadedOnce = true")


async def go(page: Page, link: str) -> None:
    """Follow a link of the main navigation (the app's router, no page load)."""
    await page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


async def still_the_same_page(page: Page) -> bool:
    return bool(await page.evaluate("window.__loadedOnce === true"))


def subscribed(page: Page, operation: str) -> asyncio.Event:
    """Set once the page has sent the subscription `operation` over its websocket (the feed
    starts live: a task posted before that is in the page's first query, not in its feed)."""
    sent = asyncio.Event()

    def frame(payload: bytes | str) -> None:
        if operation in str(payload):
            sent.set()

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", frame)

    page.on("websocket", watch)
    return sent


def png(width: int = 64, height: int = 48) -> bytes:
    image = Image.new("RGB", (width, height), (11, 87, 208))
    for x in range(0, width, 8):
        for y in range(height):
            image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def served(database_url: str, backend: Backend, **settings: object) -> AsyncIterator[Spawned]:
    """`picotask serve` with the app (its Redis keys apart from every other run's, as every
    spawned instance's)."""
    async with spawned_instance(
        database_url, backend.broadcast, web_dir=str(DIST), **settings
    ) as server:
        yield server


async def test_a_whole_job_live_in_two_browsers(
    web_build: Path, browser: Browser, database_url: str, backend: Backend, camera: Camera
) -> None:
    async with (
        served(database_url, backend) as server,
        context(browser, PHONE) as worker_ctx,
        context(browser, DESKTOP) as employer_ctx,
    ):
        base = server.url
        worker = await worker_ctx.new_page()
        feed_sent = subscribed(worker, "TaskFeed")
        # The review screen's live submissions held back (a slow network) until the worker has
        # submitted: subscribed after its page's feedCursor, they are replayed, not missed.
        review_socket = SocketRelay()
        review_socket.holding_subscriptions = "SubmissionsLive"
        await employer_ctx.route_web_socket(re.compile(r"/graphql$"), review_socket.route)
        employer = await employer_ctx.new_page()

        # Given a worker watching the live feed (on a phone-sized screen)
        await sign_up(worker, base, "wanda@example.com", "Wanda", camera)
        await expect(worker.get_by_role("heading", name="Tasks for you")).to_be_visible()
        await expect(worker.get_by_role("status", name="Connection")).to_have_text("Live")
        await asyncio.wait_for(feed_sent.wait(), 20)

        # and an employer who deposits and publishes a task
        await sign_up(employer, base, "emil@example.com", "Emil")
        await go(employer, "Wallet")
        await employer.get_by_label("Deposit amount (USD)").fill("20.00")
        await employer.get_by_role("button", name="Deposit").click()
        await expect(employer.get_by_test_id("balance")).to_have_text("$20.00")
        await go(employer, "New task")
        await employer.get_by_label("Title").fill("Check our landing page")
        await employer.get_by_label("Instructions").fill(
            "Open the page, tell us the button colour."
        )
        await employer.get_by_label("Category").select_option("REVIEW")
        await employer.get_by_label("Reward per slot (USD)").fill("0.50")
        await employer.get_by_label("Slots", exact=True).fill("2")
        await camera(employer, "create-task")
        await employer.get_by_role("button", name="Publish task").click()
        await expect(employer.get_by_role("heading", name="Check our landing page")).to_be_visible()
        await expect(employer.get_by_test_id("balance")).to_have_text("$18.90")  # 2 x (0.50 + 0.05)
        await review_socket.until(lambda: bool(review_socket.withheld))  # its page was read

        # Then the worker sees it appear without a reload, opens it and claims it
        task_link = worker.get_by_role("link", name="Check our landing page")
        await expect(task_link).to_be_visible()
        await camera(worker, "feed")
        await task_link.click()
        await expect(worker.get_by_role("heading", name="Check our landing page")).to_be_visible()
        await worker.get_by_role("button", name="Claim this task").click()
        await expect(worker.get_by_role("timer")).to_have_text(re.compile(r"^59:\d\d$"))

        # and submits proof with a screenshot (two steps: an upload slot, then the bytes)
        await worker.get_by_label("What you saw").fill("A blue button")
        await worker.get_by_label("Screenshot").set_input_files(
            {"name": "screenshot.png", "mimeType": "image/png", "buffer": png()}
        )
        await camera(worker, "claim")
        await worker.get_by_role("button", name="Submit proof").click()
        await expect(worker.get_by_text("Status: Submitted")).to_be_visible()
        await worker.get_by_label("Message to Emil").fill("Is one screenshot enough?")
        await worker.get_by_role("button", name="Send message").click()
        await expect(worker.get_by_text("Is one screenshot enough?")).to_be_visible()
        await go(worker, "Wallet")
        await expect(worker.get_by_test_id("wallet-balance")).to_have_text("$0.00")

        # Then the employer sees the submission arrive live (once), opens the screenshot and
        # approves
        review_socket.release_subscriptions()
        card = employer.get_by_role("listitem", name="Submission by Wanda")
        await expect(card).to_be_visible()
        await expect(card).to_have_count(1)
        await expect(card.get_by_text("A blue button")).to_be_visible()
        await card.get_by_role("button", name="Open screenshot 1").click()
        viewer = employer.get_by_role("dialog", name="screenshot 1")
        await expect(viewer.get_by_role("img", name="screenshot 1")).to_be_visible()
        await employer.wait_for_function(
            "() => document.querySelector('dialog img')?.naturalWidth === 64"
        )
        await camera(employer, "review")
        await employer.keyboard.press("Escape")  # a modal dialog: Escape closes it
        await expect(viewer).to_be_hidden()
        await card.get_by_role("button", name="Messages with Wanda").click()
        await expect(card.get_by_text("Is one screenshot enough?")).to_be_visible()
        await card.get_by_role("button", name="Approve").click()
        await expect(card.get_by_text("Approved")).to_be_visible()

        # and the worker's balance and statement update without a reload
        await expect(worker.get_by_test_id("balance")).to_have_text("$0.50")
        await expect(worker.get_by_test_id("wallet-balance")).to_have_text("$0.50")
        earned = worker.get_by_role("row", name=re.compile("Earned: Check our landing page"))
        await expect(earned).to_contain_text("$0.50")
        await camera(worker, "wallet", full_page=True)
        await go(worker, "My work")
        await expect(
            worker.get_by_role("row", name=re.compile("Check our landing page"))
        ).to_contain_text("Approved")
        await camera(worker, "my-submissions")
        await go(employer, "My tasks")
        numbers = employer.get_by_role("region", name="Last 30 days")
        await expect(numbers).to_contain_text("approved 1")
        await expect(numbers).to_contain_text("paid $0.50")
        await camera(employer, "my-tasks")
        assert await still_the_same_page(worker)
        assert await still_the_same_page(employer)


class SocketRelay:
    """The page's websockets pass through here (Playwright's websocket routing): every frame
    is recorded; on demand the page's subscriptions of one operation are held back (a slow
    network between the page's query and its subscription), or the server's frames are held
    back and the connection dropped, as a network failure loses what was in flight."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.held: list[str] = []
        self.holding = False
        self.holding_subscriptions: str | None = None
        self.withheld: list[tuple[WebSocketRoute, str | bytes]] = []
        self.changed = asyncio.Event()
        self.sides: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def route(self, page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        self.sides.append((page_side, server_side))

        def from_page(frame: str | bytes) -> None:
            message = json.loads(frame)
            if (
                message["type"] == "subscribe"
                and message["payload"].get("operationName") == self.holding_subscriptions
            ):
                self.withheld.append((server_side, frame))
                self.changed.set()
                return
            self._record(self.sent, frame)
            server_side.send(frame)

        def from_server(frame: str | bytes) -> None:
            if self.holding:
                self.held.append(str(frame))
                self.changed.set()
                return
            self._record(self.delivered, frame)
            page_side.send(frame)

        page_side.on_message(from_page)
        server_side.on_message(from_server)

    def release_subscriptions(self) -> None:
        self.holding_subscriptions = None
        for server_side, frame in self.withheld:
            self._record(self.sent, frame)
            server_side.send(frame)
        self.withheld.clear()

    def _record(self, frames: list[dict[str, Any]], frame: str | bytes) -> None:
        frames.append(json.loads(frame))
        self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 20)

    def subscribed(self, operation: str, after: str | None = None) -> bool:
        """`operation` sent (with `after`, if given, as its cursor)."""
        return any(
            f["type"] == "subscribe"
            and f["payload"].get("operationName") == operation
            and after in (None, f["payload"].get("variables", {}).get("after"))
            for f in self.sent
        )

    def last_cursor(self, field: str) -> str:
        cursors: list[str] = [
            f["payload"]["data"][field]["cursor"]
            for f in self.delivered
            if f["type"] == "next" and field in (f["payload"].get("data") or {})
        ]
        return cursors[-1]

    async def drop(self) -> None:
        """1012 (service restart): the client reconnects, as it would after any outage."""
        page_side, server_side = self.sides[-1]
        await page_side.close(code=1012, reason="restart")
        await server_side.close()
        self.holding = False


class _AppFiles(SimpleHTTPRequestHandler):
    """web/dist as a static host serves a single-page app: index.html for the app's routes,
    with the API's URL in its `picotask-api` meta tag, as a deployment configures it."""

    api = ""

    def do_GET(self) -> None:
        if Path(self.translate_path(self.path)).is_file() and self.path != "/index.html":
            return super().do_GET()
        index = (Path(self.directory) / "index.html").read_text(encoding="utf-8")
        tag = '<meta name="picotask-api" content="" />'
        assert tag in index, "the build's index.html lost its picotask-api meta tag"
        body = index.replace(tag, f'<meta name="picotask-api" content="{self.api}" />').encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[tuple[str, type[_AppFiles]]]:
    """Its origin, and its handler class, whose `api` is set once the API has a port."""
    files = type("Files", (_AppFiles,), {})
    server = ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(files, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", files
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def api_user(client: httpx.AsyncClient, email: str) -> str:
    query = "mutation($i: SignUpInput!) { signUp(input: $i) { token userErrors { message } } }"
    variables = {
        "i": {"email": email, "password": PASSWORD, "displayName": email[:4], "country": "DE"}
    }
    answer = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    token: str = answer["data"]["signUp"]["token"]
    return token


async def post_task(client: httpx.AsyncClient, token: str, title: str) -> None:
    headers = {"authorization": f"Bearer {token}"}
    deposit = 'mutation { createDeposit(input: {amount: "5.00"}) { userErrors { message } } }'
    create = """mutation($t: String!) { createTask(input: {title: $t, instructions: "Do it.",
      category: OTHER, reward: "0.10", slots: 1, estimatedMinutes: 1,
      proofFields: [{label: "Answer", kind: TEXT}]}) { task { id } userErrors { message } } }"""
    for body in ({"query": deposit}, {"query": create, "variables": {"t": title}}):
        answer = (await client.post("/graphql", json=body, headers=headers)).json()
        assert all(not p["userErrors"] for p in answer["data"].values()), answer


async def test_the_app_on_another_origin_works_through_cors(
    web_build: Path, browser: Browser, database_url: str, backend: Backend, camera: Camera
) -> None:
    with static_server(web_build) as (app_origin, files):
        async with (
            served(database_url, backend, allowed_origins=app_origin) as server,
            httpx.AsyncClient(base_url=server.url, timeout=10) as client,
            context(browser, PHONE) as ctx,
        ):
            files.api = server.url
            cora = await api_user(client, "cora@example.com")
            boss = await api_user(client, "boss@example.com")
            await post_task(client, boss, "Posted before")
            relay = SocketRelay()
            relay.holding_subscriptions = "TaskFeed"
            await ctx.route_web_socket(re.compile(r"/graphql$"), relay.route)
            page = await ctx.new_page()
            api_calls: list[str] = []
            page.on("request", lambda r: api_calls.append(f"{r.method} {r.url}"))

            # The app from its own origin, deployed with the API's URL
            await page.goto(f"{app_origin}/login")
            await page.get_by_label("Email").fill("cora@example.com")
            await page.get_by_label("Password").fill("not the password")
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("alert")).to_be_visible()  # the userError, shown
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_label("Password").press("Enter")  # the keyboard submits forms

            # sees the feed (HTTP through CORS); a task posted after the page's query but before
            # its feed subscription reaches the server is replayed (`after: feedCursor`)
            await expect(page.get_by_role("link", name="Posted before")).to_be_visible()
            await relay.until(lambda: bool(relay.withheld))
            await post_task(client, boss, "Posted in between")
            relay.release_subscriptions()
            await expect(page.get_by_role("link", name="Posted in between")).to_be_visible()
            # and a task posted now (the websocket)
            await expect(page.get_by_role("status", name="Connection")).to_have_text("Live")
            await post_task(client, boss, "Posted live")
            await expect(page.get_by_role("link", name="Posted live")).to_be_visible()
            await camera(page, "cross-origin-feed")

            # When the connection drops with a task in flight, the client resubscribes after
            # the last cursor it received, and the server replays what it missed
            relay.holding = True
            await post_task(client, boss, "Posted while away")
            await relay.until(lambda: any("Posted while away" in f for f in relay.held))
            last = relay.last_cursor("taskFeed")
            await relay.drop()
            await relay.until(lambda: relay.subscribed("TaskFeed", after=last))
            await expect(page.get_by_role("link", name="Posted while away")).to_be_visible()
            await expect(page.get_by_role("link", name="Posted live")).to_have_count(1)
            await expect(page.get_by_role("link", name="Posted in between")).to_have_count(1)

            # and uploads a profile photo (PUT to the API's origin, through CORS too)
            await go(page, "Profile")
            await page.get_by_label("Photo").set_input_files(
                {"name": "me.png", "mimeType": "image/png", "buffer": png(120, 120)}
            )
            await page.get_by_role("button", name="Save profile").click()
            await expect(page.get_by_text("Profile saved.")).to_be_visible()
            photo = page.get_by_role("img", name="cora's photo")
            await expect(photo).to_be_visible()
            await page.wait_for_function(
                "() => document.querySelector('img.avatar')?.naturalWidth > 0"
            )
            await camera(page, "profile")

            # A session ended elsewhere closes the socket (4403): the app asks to log in again
            log_out = "mutation { logOut(input: {everywhere: true}) { userErrors { message } } }"
            headers = {"authorization": f"Bearer {cora}"}
            await client.post("/graphql", json={"query": log_out}, headers=headers)
            await expect(page.get_by_role("heading", name="Log in")).to_be_visible()

            graphql = [c for c in api_calls if c.split(" ")[1].startswith(f"{server.url}/graphql")]
            assert graphql, api_calls
            # Queries go as persisted-query hashes over GET (the README's recommendation).
            assert any(c.startswith("GET ") and "persistedQuery" in c for c in graphql), graphql


async def reset_link(mail_server: MailServer, address: str) -> str:
    """The link of the password-reset mail to `address` (its confirmation comes too, in
    either order: told apart by subject)."""
    await mail_server.wait_for(address, 2, within=30)
    (mail,) = [m for m in mail_server.to(address) if "Reset your" in str(m["Subject"])]
    (link,) = [u for u in links(mail) if urlparse(u).path == "/reset-password"]
    return link


async def test_a_forgotten_password_is_recovered_from_the_mail(
    web_build: Path,
    browser: Browser,
    database_url: str,
    backend: Backend,
    camera: Camera,
    mail_server: MailServer,
) -> None:
    new_password = "tangerine orbit lantern"
    async with (
        served(database_url, backend, mail_url=mail_server.url) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        context(browser, PHONE) as ctx,
    ):
        # Given an account whose password its owner forgot
        old = await api_user(client, "rita@example.com")
        page = await ctx.new_page()

        # When they ask for a link on the app's forgot-password screen
        await page.goto(f"{server.url}/forgot-password")
        await page.get_by_label("Email").fill("rita@example.com")
        await page.get_by_role("button", name="Mail me a link").click()
        await expect(page.get_by_role("status")).to_contain_text("rita@example.com")

        # and open the link the mail brings (the instance's own sender delivers it)
        link = await reset_link(mail_server, "rita@example.com")
        assert link.startswith(f"{server.url}/reset-password?token=")
        await page.goto(link)
        await page.get_by_label("New password").fill(new_password)
        await camera(page, "reset-password")
        await page.get_by_role("button", name="Set the password").click()

        # Then they are signed in, and every older session is not
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        me = {"query": "{ me { id } }"}
        refused = await client.post("/graphql", json=me, headers={"authorization": f"Bearer {old}"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        # and log in with the new password, not the old one
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        await page.get_by_label("Email").fill("rita@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
        await page.get_by_label("Password").fill(new_password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()


async def test_the_profile_lists_the_sessions_and_revokes_another(
    web_build: Path, browser: Browser, database_url: str, backend: Backend, camera: Camera
) -> None:
    async with (
        served(database_url, backend) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
        context(browser, DESKTOP) as ctx,
    ):
        # Given a user signed in here, and elsewhere by a script (httpx's User-Agent)
        page = await ctx.new_page()
        await sign_up(page, server.url, "sam@example.com", "Sam")
        log_in = """mutation($i: LogInInput!) { logIn(input: $i) { token } }"""
        variables = {"i": {"email": "sam@example.com", "password": PASSWORD}}
        answer = await client.post("/graphql", json={"query": log_in, "variables": variables})
        elsewhere = answer.json()["data"]["logIn"]["token"]

        # When they open their profile, both sessions are listed, this browser's marked
        await go(page, "Profile")
        rows = page.get_by_role("list", name="Sessions").get_by_role("listitem")
        await expect(rows).to_have_count(2)
        mine = rows.filter(has_text="This browser")
        await expect(mine).to_contain_text("HeadlessChrome")
        await expect(mine.get_by_role("button", name=re.compile("^Revoke"))).to_have_count(0)
        other = rows.filter(has_text="python-httpx")
        await expect(other).to_contain_text("127.0.0.1")
        await camera(page, "sessions", full_page=True)

        # and revoke the other one: it is gone from the list, and its token stops working
        await other.get_by_role("button", name=re.compile("^Revoke")).click()
        await expect(page.get_by_text("The session was revoked")).to_be_visible()
        await expect(rows).to_have_count(1)
        me = {"query": "{ me { id } }"}
        headers = {"authorization": f"Bearer {elsewhere}"}
        refused = await client.post("/graphql", json=me, headers=headers)
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # while this browser is still signed in
        await page.reload()
        await expect(page.get_by_role("heading", name="Profile")).to_be_visible()


def mailed(directory: Path, subject: str) -> EmailMessage | None:
    """The mail the instance wrote to `directory` (its file transport) whose subject starts so."""
    for path in sorted(directory.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if str(message["Subject"]).startswith(subject):
            return message
    return None


async def test_two_factors_and_payout_methods_on_the_security_screen(
    web_build: Path,
    browser: Browser,
    database_url: str,
    backend: Backend,
    camera: Camera,
    tmp_path: Path,
) -> None:
    async with (
        served(database_url, backend, mail_url=f"file://{tmp_path}") as server,
        context(browser, DESKTOP) as ctx,
    ):
        page = await ctx.new_page()
        await sign_up(page, server.url, "sec@example.com", "Sec")
        await go(page, "Security")
        await expect(page.get_by_role("heading", name="Security")).to_be_visible()

        # A payout method without two factors: confirmed by the link mailed
        await page.get_by_label("Destination").fill("Sec@Example.com")
        await page.get_by_role("button", name="Save the method").click()
        await expect(page.get_by_text("Open the link we mailed you")).to_be_visible()
        methods = page.get_by_role("list", name="Saved payout methods")
        await expect(methods).to_contain_text("PayPal sec@example.com")
        await expect(methods).to_contain_text("Waiting for the link mailed to you")
        for _ in range(200):
            link_mail = mailed(tmp_path, "Confirm a new payout method")
            if link_mail is not None:
                break
            await asyncio.sleep(0.05)
        assert link_mail is not None
        token = token_from(link_mail, "/confirm-payout-method")
        await page.goto(f"{server.url}/confirm-payout-method?token={token}")
        await expect(page.get_by_role("status")).to_contain_text("is confirmed")
        await page.get_by_role("link", name="Security").click()
        await expect(methods).to_contain_text("Usable from")

        # Two factors: the QR code and the key, a first code, the recovery codes once. The
        # codes are of three steps in a row, so none is a replay of another: start early in a
        # 30-second step so that the first stays good (the server takes one step either way).
        await page.get_by_role("button", name="Set up two-factor codes").click()
        await expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        secret = await page.get_by_test_id("two-factor-secret").inner_text()
        assert (await page.get_by_test_id("otpauth-uri").inner_text()).startswith("otpauth://")
        if time.time() % 30 > 20:
            await asyncio.sleep(31 - time.time() % 30)
        step = int(time.time()) // 30
        totp = pyotp.TOTP(secret)
        await camera(page, "two-factor")
        await page.get_by_label("Code from the app").fill(totp.generate_otp(step - 1))
        await page.get_by_role("button", name="Turn on").click()
        codes = page.get_by_test_id("recovery-codes").get_by_role("listitem")
        await expect(codes).to_have_count(10)
        await expect(page.get_by_text("On: payouts and changes")).to_be_visible()

        # With them on, a new method takes a code and is confirmed at once
        await page.get_by_label("Destination").fill("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
        await page.locator("#f-add-method").select_option("CRYPTO")
        await page.locator("#f-add-code").fill(totp.generate_otp(step))
        await page.get_by_role("button", name="Save the method").click()
        await expect(page.get_by_text("checksum does not match")).to_be_visible()  # one case off
        await page.get_by_label("Destination").fill("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        await page.get_by_role("button", name="Save the method").click()
        await expect(page.get_by_text("Saved and confirmed")).to_be_visible()
        await expect(methods.get_by_role("listitem")).to_have_count(2)

        # The payout form offers the saved methods; one still cooling down is refused
        await go(page, "Wallet")
        await page.get_by_label("Payout amount (USD)").fill("5.00")
        await expect(page.get_by_label("Pay to").locator("option")).to_have_count(3)
        await page.get_by_label("Pay to").select_option(index=1)  # newest first: the Crypto one
        await page.locator("#f-payout-code").fill(totp.generate_otp(step + 1))
        await page.get_by_role("button", name="Request payout").click()
        await expect(page.get_by_role("alert")).to_contain_text("payouts can go to it from")

        # Removing takes a code too
        await go(page, "Security")
        await (
            page.locator("li", has_text="Crypto 0x5aAe")
            .get_by_label("Two-factor code")
            .fill(totp.generate_otp(step + 1))
        )
        await page.get_by_role("button", name=re.compile("Remove Crypto")).click()
        await expect(page.get_by_text("Removed Crypto")).to_be_visible()
        await expect(methods.get_by_role("listitem")).to_have_count(1)


async def test_notification_settings_and_the_unsubscribe_page(
    web_build: Path, browser: Browser, database_url: str, backend: Backend, mail_server: MailServer
) -> None:
    async with (
        served(database_url, backend, mail_url=mail_server.url) as server,
        context(browser, DESKTOP) as signed_in,
        context(browser, PHONE) as signed_out,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        base = server.url
        page = await signed_in.new_page()
        await sign_up(page, base, "nora@example.com", "Nora")
        # Given the profile's notification toggles, every kind on
        await go(page, "Profile")
        await expect(page.get_by_role("heading", name="Email notifications")).to_be_visible()
        bonus = page.get_by_role("checkbox", name="I received a bonus")
        paid = page.get_by_role("checkbox", name="A payout was paid")
        await expect(bonus).to_be_checked()
        await expect(paid).to_be_checked()
        # When one is turned off, it stays off
        await bonus.uncheck()
        await expect(page.get_by_role("status").filter(has_text="No more mail for")).to_be_visible()
        await page.reload()
        await expect(page.get_by_role("checkbox", name="I received a bonus")).not_to_be_checked()

        # When a payout is paid, its mail's unsubscribe link opens the page, signed out too
        token = await page.evaluate("localStorage.getItem('picotask.token')")
        headers = {"authorization": f"Bearer {token}"}
        for body in (
            'mutation { createDeposit(input: {amount: "20.00"}) { userErrors { message } } }',
            """mutation { requestPayout(input: {amount: "5.00", method: PAYPAL,
              destination: "nora@example.com"}) { userErrors { message } } }""",
        ):
            answer = (await client.post("/graphql", json={"query": body}, headers=headers)).json()
            assert all(not p["userErrors"] for p in answer["data"].values()), answer
        mail = await mail_server.wait_for("nora@example.com", 2, within=30)
        assert str(mail["Subject"]) == "Your picotask payout was paid"
        link = f"{base}/unsubscribe?token={token_from(mail, '/unsubscribe')}"
        stranger = await signed_out.new_page()
        await stranger.goto(link)
        await expect(stranger.get_by_role("heading", name="Unsubscribe")).to_be_visible()
        await stranger.get_by_role("button", name="Stop these mails").click()
        await expect(stranger.get_by_role("status")).to_contain_text(
            "You will get no more mail for: A payout was paid."
        )
        # Then the profile shows it off as well
        await page.reload()
        await expect(page.get_by_role("checkbox", name="A payout was paid")).not_to_be_checked()
        await expect(page.get_by_role("checkbox", name="A payout failed")).to_be_checked()
