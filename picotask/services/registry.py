"""Every service of one app instance, wired from settings and a clock."""

from __future__ import annotations

from dataclasses import dataclass

from picotask.server.settings import Settings
from picotask.services.accounts import AccountService, PasswordService
from picotask.services.clock import Clock
from picotask.services.disputes import DisputeService
from picotask.services.events import EventLog, Publisher
from picotask.services.ledger import Ledger
from picotask.services.moderation import ModerationService
from picotask.services.payouts import PayoutProcessor
from picotask.services.providers import (
    PaymentProvider,
    PayoutProvider,
    SandboxPaymentProvider,
    SandboxPayoutProvider,
)
from picotask.services.ratings import RatingService
from picotask.services.sweeper import Sweeper
from picotask.services.tasks import TaskService
from picotask.services.trust import TrustService
from picotask.services.wallet import WalletService
from picotask.services.work import WorkService


@dataclass(slots=True)
class Providers:
    """The outside world; sandboxes unless a deployment supplies real ones."""

    payments: PaymentProvider
    payouts: PayoutProvider

    @classmethod
    def sandbox(cls, settings: Settings) -> Providers:
        return cls(
            payments=SandboxPaymentProvider(),
            payouts=SandboxPayoutProvider(fail=settings.payout_provider_fails),
        )


@dataclass(slots=True)
class Services:
    settings: Settings
    clock: Clock
    providers: Providers
    events: EventLog
    ledger: Ledger
    accounts: AccountService
    wallet: WalletService
    payouts: PayoutProcessor
    tasks: TaskService
    work: WorkService
    disputes: DisputeService
    moderation: ModerationService
    ratings: RatingService
    trust: TrustService
    sweeper: Sweeper

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        providers: Providers | None = None,
        publish: Publisher | None = None,
    ) -> Services:
        """`publish` puts committed events on the bus; without it they are only logged."""
        providers = providers or Providers.sandbox(settings)
        passwords = PasswordService(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        events = EventLog(clock, publish)
        ledger = Ledger(clock)
        wallet = WalletService(settings, clock, ledger, providers.payments)
        tasks = TaskService(settings, clock, ledger, events)
        work = WorkService(settings, clock, ledger, tasks, events)
        return cls(
            settings=settings,
            clock=clock,
            providers=providers,
            events=events,
            ledger=ledger,
            accounts=AccountService(passwords, clock, ledger, settings.session_ttl_seconds),
            wallet=wallet,
            payouts=PayoutProcessor(
                clock,
                ledger,
                providers.payouts,
                wallet.settle_deposit,
                events,
                poll_seconds=settings.payout_poll_seconds,
            ),
            tasks=tasks,
            work=work,
            disputes=DisputeService(clock, work, events),
            moderation=ModerationService(clock, events),
            ratings=RatingService(clock),
            trust=TrustService(clock, events, tasks),
            sweeper=Sweeper(tasks, work, settings.sweep_interval_seconds),
        )
