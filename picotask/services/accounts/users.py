"""Sign-up, log-in, sessions and profiles.

Over ~300 lines on purpose: one service of one entity whose steps share its checks (email,
password, country, text) and its session issue; the account rules elsewhere already have their
own modules (sessions, passwords, throttle, moderation).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlparse

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from picotask.models.users import Session, User
from picotask.services.accounts.confirmations import Confirmations
from picotask.services.accounts.countries import COUNTRY_CODES
from picotask.services.accounts.passwords import is_guessable
from picotask.services.accounts.sessions import Client, Revocation, Revocations, seen
from picotask.services.accounts.throttle import AuthThrottle
from picotask.services.accounts.two_factor import TwoFactor
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Validator, refused_message
from picotask.services.core.user_text import TextKind, first_refused, normalize
from picotask.services.media.upload_use import attach_avatar, checked_avatar, drop_avatar
from picotask.services.money.ledger import Ledger

MIN_PASSWORD = 10
MAX_PASSWORD = 200
MAX_EMAIL = 254
MAX_DISPLAY_NAME = 60
MAX_BIO = 1_000
MAX_URL = 500
MAX_SKILLS = 30
MAX_SKILL = 40
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is the mailer's job.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WRONG_LOGIN = "Wrong email or password."


@dataclass(frozen=True, slots=True)
class AuthResult:
    user: User
    token: str


class PasswordService:
    """argon2id hashing, run in a worker thread so it never blocks the event loop."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verified against on unknown emails, so a wrong email costs as much as a wrong password.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            ok = await asyncio.to_thread(
                self._hasher.verify, password_hash or self._dummy_hash, password
            )
        except (VerificationError, InvalidHashError):
            return False
        # The dummy hash only spends the time; it never authenticates anyone.
        return ok and password_hash is not None


def approval_rate(approved: int, rejected: int) -> float | None:
    """approved / (approved + rejected); None before any review. For workers (their work) and
    employers (their reviews) alike."""
    return approved / (approved + rejected) if approved + rejected else None


def may_see_money(viewer: User | None, user: User) -> bool:
    """Money on a profile (lifetime earnings, total paid out) is the user's own business: only
    they and moderators see it. Counts, approval rates and ratings are public, because workers
    and employers choose each other by them."""
    return viewer is not None and (viewer.id == user.id or viewer.is_admin)


def median_seconds(durations: list[float]) -> float | None:
    if not durations:
        return None
    ordered = sorted(durations)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def is_email(value: str) -> bool:
    return len(value) <= MAX_EMAIL and bool(_EMAIL.match(value))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """NFKC, then lower case: a full-width or otherwise look-alike spelling of an address is
    the same address, at sign-up (EMAIL_TAKEN) and at log-in (the same account)."""
    return normalize(email, TextKind.NAME).lower()


def check_email(v: Validator, email: str, field: list[str] | None = None) -> str:
    """The address normalized; problems named `field` (["input", "email"] by default)."""
    path = field or ["input", "email"]
    name = path[-1]
    normalized = normalize_email(email)
    if len(normalized) > MAX_EMAIL:
        v.add(
            name, ErrorCode.TOO_LONG, f"{name} must be at most {MAX_EMAIL} characters.", path[:-1]
        )
    elif not _EMAIL.match(normalized):
        v.add(name, ErrorCode.INVALID, f"{name} is not a valid email address.", path[:-1])
    elif (refused := first_refused(normalized, TextKind.NAME)) is not None:
        v.add(name, ErrorCode.INVALID, refused_message(name, refused), path[:-1])
    return normalized


def check_password(v: Validator, field: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        v.add(field, ErrorCode.TOO_SHORT, f"{field} must be at least {MIN_PASSWORD} characters.")
    elif len(password) > MAX_PASSWORD:
        v.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {MAX_PASSWORD} characters.")


def _check_country(v: Validator, country: str) -> str:
    code = country.strip().upper()
    if code not in COUNTRY_CODES:
        v.add("country", ErrorCode.UNKNOWN_COUNTRY, "country must be an ISO 3166-1 alpha-2 code.")
    return code


def _check_url(v: Validator, field: str, url: str) -> str | None:
    url = url.strip()
    if not url:
        return None
    parsed = urlparse(url)
    if len(url) > MAX_URL:
        v.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {MAX_URL} characters.")
    elif parsed.scheme not in {"http", "https"} or not parsed.netloc:
        v.add(field, ErrorCode.INVALID, f"{field} must be an http(s) URL.")
    elif (refused := first_refused(url, TextKind.NAME)) is not None:
        v.add(field, ErrorCode.INVALID, refused_message(field, refused))
    return url


def _check_skills(v: Validator, skills: list[str]) -> list[str]:
    normalized = (normalize(s, TextKind.NAME) for s in skills)
    cleaned = list(dict.fromkeys(s for s in normalized if s))
    refused = next((ch for s in cleaned if (ch := first_refused(s, TextKind.NAME))), None)
    if len(cleaned) > MAX_SKILLS:
        v.add("skills", ErrorCode.TOO_LONG, f"skills may list at most {MAX_SKILLS} entries.")
    elif any(len(s) > MAX_SKILL for s in cleaned):
        v.add("skills", ErrorCode.TOO_LONG, f"each skill must be at most {MAX_SKILL} characters.")
    elif refused is not None:
        v.add("skills", ErrorCode.INVALID, refused_message("skills", refused))
    return cleaned


class UserService:
    def __init__(
        self,
        passwords: PasswordService,
        clock: Clock,
        ledger: Ledger,
        session_ttl_seconds: int,
        revocations: Revocations,
        *,
        throttle: AuthThrottle,
        min_password_score: int,
        confirmations: Confirmations,
        two_factor: TwoFactor,
    ) -> None:
        self.passwords = passwords
        self.clock = clock
        self.ledger = ledger
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self.revocations = revocations
        self.throttle = throttle
        self.min_password_score = min_password_score
        self.confirmations = confirmations
        self.two_factor = two_factor

    async def sign_up(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        country: str,
        client_address: str,
        user_agent: str | None = None,
    ) -> AuthResult:
        """`client_address` is where the request came from: sign-ups are throttled by it. It
        and `user_agent` are kept with the session, for its owner to recognise it."""
        v = Validator()
        normalized = check_email(v, email)
        check_password(v, "password", password)
        name = v.text(
            "displayName",
            display_name,
            min_length=1,
            max_length=MAX_DISPLAY_NAME,
            kind=TextKind.NAME,
        )
        code = _check_country(v, country)
        v.check()
        await self.throttle.sign_up_attempt(client_address)
        await self.refuse_guessable("password", password, [normalized, name])
        if await User.filter(email=normalized).exists():
            raise email_taken()
        password_hash = await self.passwords.hash(password)
        now = self.clock.now()
        try:
            async with in_transaction():
                user = await User.create(
                    email=normalized,
                    password_hash=password_hash,
                    display_name=name,
                    country=code,
                    created_at=now,
                    updated_at=now,
                )
                await self.ledger.user_account(user.id)
                token, _ = await self.open_session(user, Client.of(client_address, user_agent))
                await self.confirmations.send(user)
        except IntegrityError:
            # Lost a race with a concurrent sign-up for the same email.
            raise email_taken() from None
        return AuthResult(user, token)

    async def log_in(
        self, *, email: str, password: str, client_address: str, user_agent: str | None = None
    ) -> AuthResult:
        """Throttled per account and per `client_address` before any hashing."""
        address = normalize_email(email)
        await self.throttle.password_attempt(address, client_address)
        # No stored email is longer: such a value never reaches the query (tortoise refuses
        # it as a bug), and still costs the dummy hash below, as any wrong email does.
        user = await User.get_or_none(email=address) if len(address) <= MAX_EMAIL else None
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok:
            raise DomainError(ErrorCode.INVALID_CREDENTIALS, _WRONG_LOGIN, ["input"])
        await self.throttle.password_accepted(address, client_address)
        token, _ = await self.open_session(user, Client.of(client_address, user_agent))
        return AuthResult(user, token)

    async def log_out(self, session: Session, *, everywhere: bool) -> None:
        now = self.clock.now()
        sessions = Session.filter(revoked_at=None)
        if everywhere:
            await sessions.filter(user_id=session.user_id).update(revoked_at=now)
        else:
            await sessions.filter(id=session.id).update(revoked_at=now)
        ended = None if everywhere else (session.id,)
        await self.revocations.announce(Revocation(session.user_id, ended, "Logged out."))

    async def authenticate(self, token: str) -> tuple[User, Session] | None:
        """The live session and its user for a bearer token, or None."""
        session = await Session.get_or_none(
            token_hash=hash_token(token), revoked_at=None, expires_at__gt=self.clock.now()
        ).select_related("user")
        if session is None:
            return None
        await seen(session, self.clock.now())
        return session.user, session

    async def update_profile(
        self,
        user: User,
        *,
        display_name: str | None = None,
        country: str | None = None,
        bio: str | None = None,
        avatar_url: str | None = None,
        avatar_upload_id: int | None = None,
        skills: list[str] | None = None,
        current_password: str | None = None,
        new_password: str | None = None,
        client: Client | None = None,
        two_factor_code: str | None = None,
    ) -> tuple[User, str | None]:
        """Apply the given fields; a password change revokes every session and opens a new one
        (for `client`; with two factors on, it takes a current code).
        `avatar_upload_id` (an uploaded avatar; 0 for an id that names none) and `avatar_url`
        (a link elsewhere, "" for none) each replace the avatar."""
        v = Validator()
        changes: dict[str, object] = {}
        if display_name is not None:
            changes["display_name"] = v.text(
                "displayName",
                display_name,
                min_length=1,
                max_length=MAX_DISPLAY_NAME,
                kind=TextKind.NAME,
            )
        if country is not None:
            changes["country"] = _check_country(v, country)
        if bio is not None:
            changes["bio"] = v.text("bio", bio, max_length=MAX_BIO, kind=TextKind.PROSE) or None
        if avatar_url is not None:
            changes["avatar_url"] = _check_url(v, "avatarUrl", avatar_url)
            changes["avatar_key"] = None
            if avatar_upload_id is not None:
                v.add("avatarUploadId", ErrorCode.INVALID, "Give avatarUrl or avatarUploadId.")
        elif avatar_upload_id is not None:
            changes["avatar_url"] = None  # the upload replaces a link
        if skills is not None:
            changes["skills"] = _check_skills(v, skills)
        if new_password is not None:
            check_password(v, "newPassword", new_password)
            if current_password is None:
                v.add("currentPassword", ErrorCode.INVALID, "currentPassword is required.")
        v.check()
        if new_password is not None:
            self.two_factor.require(user, two_factor_code)
        avatar = None
        if avatar_upload_id is not None:
            avatar = await checked_avatar(user.id, avatar_upload_id, self.clock.now())
        if new_password is not None:
            await self.check_password_of(user, current_password or "")
            await self.refuse_guessable(
                "newPassword",
                new_password,
                [user.email, str(changes.get("display_name") or user.display_name)],
            )
            changes["password_hash"] = await self.passwords.hash(new_password)
        token: str | None = None
        kept: int | None = None
        async with in_transaction():
            if new_password is not None:
                await self.two_factor.verify(user, two_factor_code)
            if changes:
                changes["updated_at"] = self.clock.now()
                await User.filter(id=user.id).update(**changes)
            if avatar is not None:
                await attach_avatar(user.id, avatar, self.clock.now())
            elif avatar_url is not None:
                await drop_avatar(user.id)
            if new_password is not None:
                await Session.filter(user_id=user.id, revoked_at=None).update(
                    revoked_at=self.clock.now()
                )
                token, kept = await self.open_session(user, client)
                await self.confirmations.password_changed(user, "changed in its settings")
        if token is not None:
            await self.revocations.announce(
                Revocation(user.id, None, "The password was changed.", keep=kept)
            )
        await user.refresh_from_db()
        return user, token

    async def check_password_of(self, user: User, password: str) -> None:
        """The signed-in user's own password, as a change of something sensitive needs it. A
        stolen session must not make guessing it any cheaper than log-in: throttled the same."""
        await self.throttle.password_attempt(user.email, None)
        if not await self.passwords.verify(user.password_hash, password):
            raise DomainError(
                ErrorCode.INVALID_CREDENTIALS,
                "currentPassword is wrong.",
                ["input", "currentPassword"],
            )
        await self.throttle.password_accepted(user.email, None)

    async def refuse_guessable(self, field: str, password: str, context: list[str]) -> None:
        if await is_guessable(password, context, self.min_password_score):
            raise DomainError(
                ErrorCode.COMMON_PASSWORD,
                f"{field} is too common or too easy to guess; a few unrelated words make a "
                "strong one.",
                ["input", field],
            )

    async def open_session(self, user: User, client: Client | None = None) -> tuple[str, int]:
        """A new session's token and id; `client`: who opens it, as the transport tells."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        client = client or Client()
        session = await Session.create(
            user=user,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + self.session_ttl,
            last_seen_at=now,
            client_address=client.address,
            user_agent=client.user_agent,
        )
        return token, session.id


def email_taken(field: list[str] | None = None) -> DomainError:
    path = field or ["input", "email"]
    return DomainError(ErrorCode.EMAIL_TAKEN, f"{path[-1]} is already registered.", path)
