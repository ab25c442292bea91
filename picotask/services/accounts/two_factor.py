"""Two factors: TOTP codes from an authenticator app (RFC 6238, pyotp), optional per user.

Enrolling takes two steps: `start` makes a secret (pending) and its otpauth:// URI for the
app; `enable` takes a first code from the app, turns the secret on, and returns ten recovery
codes, shown this once and stored only as SHA-256. With two factors on, withdrawing and
changing the email, the password or the payout methods need a current code (`verify`, called
in the transaction of the step it allows, so a refused step spends no code).

A code is good once: the user's last accepted 30-second step is kept and a code of that step or
an earlier one is refused (a conditional update: two requests with one code, one wins). Every
attempt counts on the user's throttle (growing delays, as failed log-ins; a good code clears
it), so guessing one of a million codes is no faster than guessing a password. The secret is
stored as it is: the server needs it to check codes. No code ever reaches a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from picotask.models.users import RecoveryCode, User
from picotask.services.accounts.rate_limits import Backoff, RateStore
from picotask.services.accounts.throttle import seconds
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Throttled
from picotask.services.core.metrics import THROTTLE_REFUSALS
from picotask.services.mail.outbox import Mailbox
from picotask.settings import Settings

STEP_SECONDS = 30
# Codes of the step before and after the current one still count: clocks drift, people type.
DRIFT_STEPS = 1
RECOVERY_CODES = 10
CODE_FIELD = ["input", "twoFactorCode"]
_TOTP = re.compile(r"^\d{6}$")
_RECOVERY = re.compile(r"^[a-z2-7]{10}$")


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str


def two_factor_on(user: User) -> bool:
    return user.two_factor_enabled_at is not None and user.two_factor_secret is not None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _normalized(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _invalid(field: list[str], message: str = "twoFactorCode is wrong.") -> DomainError:
    return DomainError(ErrorCode.INVALID_CODE, message, field)


class TwoFactor:
    def __init__(self, settings: Settings, clock: Clock, mail: Mailbox, store: RateStore) -> None:
        self.settings = settings
        self.clock = clock
        self.mail = mail
        self.store = store
        self.issuer = settings.two_factor_issuer or settings.product_name
        self.backoff = Backoff(
            free=settings.two_factor_free_failures,
            base_delay=settings.throttle_base_delay_seconds,
            max_delay=settings.throttle_max_delay_seconds,
            window=settings.throttle_window_seconds,
        )

    # -- enrolling and leaving -------------------------------------------------------------

    async def start(self, user: User) -> Enrolment:
        """A new secret, pending until `enable` gets a code made from it (an older pending
        one stops counting)."""
        if two_factor_on(user):
            raise DomainError(ErrorCode.INVALID_STATUS, "Two factors are enabled already.")
        secret = pyotp.random_base32()
        await User.filter(id=user.id).update(two_factor_pending_secret=secret)
        user.two_factor_pending_secret = secret
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.issuer)
        return Enrolment(secret, uri)

    async def enable(self, user: User, code: str) -> list[str]:
        """Turn the pending secret on with a first code from the app; the recovery codes."""
        field = ["input", "code"]
        if two_factor_on(user):
            raise DomainError(ErrorCode.INVALID_STATUS, "Two factors are enabled already.")
        pending = user.two_factor_pending_secret
        if pending is None:
            raise DomainError(
                ErrorCode.INVALID_STATUS, "Call startTwoFactor first, then give a code.", field
            )
        await self._attempt(user)
        step = self._matching_step(pending, code)
        if step is None:
            raise _invalid(field, "code is wrong: give the one your app shows now.")
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        now = self.clock.now()
        async with in_transaction():
            changed = await User.filter(
                id=user.id, two_factor_pending_secret=pending, two_factor_enabled_at=None
            ).update(
                two_factor_secret=pending,
                two_factor_pending_secret=None,
                two_factor_enabled_at=now,
                two_factor_last_step=step,
            )
            if not changed:
                raise DomainError(ErrorCode.INVALID_STATUS, "Two factors changed meanwhile.")
            await RecoveryCode.filter(user_id=user.id).delete()
            await RecoveryCode.bulk_create(
                [RecoveryCode(user_id=user.id, code_hash=_hash(c), created_at=now) for c in codes]
            )
            await self._tell(user, enabled=True)
        await self._cleared(user)
        await user.refresh_from_db()
        return [f"{c[:5]}-{c[5:]}" for c in codes]

    async def disable(self, user: User, code: str) -> None:
        """Off with a current code or a recovery code (the app was lost)."""
        field = ["input", "code"]
        if not two_factor_on(user):
            raise DomainError(ErrorCode.INVALID_STATUS, "Two factors are not enabled.")
        async with in_transaction():
            await self.verify(user, code, field, recovery=True)
            await User.filter(id=user.id).update(
                two_factor_secret=None,
                two_factor_pending_secret=None,
                two_factor_enabled_at=None,
                two_factor_last_step=None,
            )
            await RecoveryCode.filter(user_id=user.id).delete()
            await self._tell(user, enabled=False)
        await user.refresh_from_db()

    async def recovery_codes_left(self, user_id: int) -> int:
        return await RecoveryCode.filter(user_id=user_id, used_at=None).count()

    # -- a code for a sensitive step ---------------------------------------------------------

    def require(self, user: User, code: str | None, field: list[str] | None = None) -> None:
        """TWO_FACTOR_REQUIRED when two factors are on and no code came; before anything."""
        if two_factor_on(user) and not (code or "").strip():
            raise DomainError(
                ErrorCode.TWO_FACTOR_REQUIRED,
                "Two factors are enabled: give twoFactorCode, the code your app shows now.",
                field or CODE_FIELD,
            )

    async def verify(
        self,
        user: User,
        code: str | None,
        field: list[str] | None = None,
        *,
        recovery: bool = False,
    ) -> None:
        """Nothing when two factors are off; else the code is spent (call it in the step's
        transaction), or TWO_FACTOR_REQUIRED / INVALID_CODE, or Throttled after too many
        attempts. `recovery`: a recovery code is good too."""
        path = field or CODE_FIELD
        if not two_factor_on(user):
            return
        self.require(user, code, path)
        assert code is not None
        assert user.two_factor_secret is not None
        await self._attempt(user)
        typed = _normalized(code)
        if recovery and _RECOVERY.match(typed):
            spent = await RecoveryCode.filter(
                user_id=user.id, code_hash=_hash(typed), used_at=None
            ).update(used_at=self.clock.now())
            if not spent:
                raise _invalid(path, f"{path[-1]} is not an unused recovery code.")
        else:
            step = self._matching_step(user.two_factor_secret, typed)
            if step is None:
                raise _invalid(path, f"{path[-1]} is wrong: give the one your app shows now.")
            newer = Q(two_factor_last_step=None) | Q(two_factor_last_step__lt=step)
            if not await User.filter(newer, id=user.id).update(two_factor_last_step=step):
                raise _invalid(
                    path, f"{path[-1]} was used already: wait for the next one your app shows."
                )
        await self._cleared(user)

    # -- helpers --------------------------------------------------------------------------

    def _matching_step(self, secret: str, code: str) -> int | None:
        typed = _normalized(code)
        if not _TOTP.match(typed):
            return None
        totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
        current = int(self.clock.now().timestamp()) // STEP_SECONDS
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), typed):
                return step
        return None

    def _key(self, user: User) -> str:
        return f"two-factor:user:{user.id}"

    async def _attempt(self, user: User) -> None:
        wait = await self.store.attempt(
            [(self._key(user), self.backoff)], self.clock.now().timestamp()
        )
        if wait > 0:
            THROTTLE_REFUSALS.labels("two_factor").inc()
            raise Throttled(
                f"Too many two-factor codes tried; try again in {seconds(wait)} s.", wait
            )

    async def _cleared(self, user: User) -> None:
        await self.store.reset(self._key(user))

    async def _tell(self, user: User, *, enabled: bool) -> None:
        await self.mail.send(
            "two_factor_changed",
            to=user.email,
            user_id=user.id,
            context={
                "name": user.display_name,
                "enabled": enabled,
                "url": self.mail.link("/forgot-password"),
            },
        )


def _recovery_code() -> str:
    """Ten base32 letters (50 bits): typed from paper, so no look-alike characters."""
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(10))
