"""Every service of one app instance, wired from settings and a clock."""

from __future__ import annotations

from dataclasses import dataclass

from picotask.server.settings import Settings
from picotask.services.accounts import AccountService, PasswordService
from picotask.services.clock import Clock


@dataclass(slots=True)
class Services:
    settings: Settings
    clock: Clock
    accounts: AccountService

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> Services:
        passwords = PasswordService(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        return cls(
            settings=settings,
            clock=clock,
            accounts=AccountService(passwords, clock, settings.session_ttl_seconds),
        )
