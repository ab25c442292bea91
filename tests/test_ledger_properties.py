"""A hypothesis state machine drives random money movements; the ledger audit must hold after
every step, and every balance must equal what a simple model of the rules predicts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from picotask.models.payouts import Payout, PayoutMethod, PayoutStatus
from picotask.models.users import User
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import ErrorCode
from picotask.services.money.ledger import audit
from picotask.services.payments.providers import SandboxPayoutProvider
from picotask.services.registry import Services
from tests.support import Backend, fresh_database, new_user, orm, refusal, settings_for

T = TypeVar("T")
amounts = st.integers(min_value=1, max_value=60_000)
who = st.integers(min_value=0, max_value=2)


class LedgerMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    services: ClassVar[Services]

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        return self.loop.run_until_complete(wait())

    @initialize()
    def users(self) -> None:
        self.people: list[User] = [self.run(new_user(self.services)) for _ in range(3)]
        self.available = {u.id: 0 for u in self.people}
        self.escrow: dict[int, tuple[int, int]] = {}  # task id -> (employer id, cents)

    @rule(i=who, cents=amounts)
    def deposit(self, i: int, cents: int) -> None:
        user = self.people[i]
        self.run(self.services.payouts.deposit(user, Decimal(cents).scaleb(-2), None))
        self.available[user.id] += cents

    @rule(i=who, cents=amounts)
    def request_payout(self, i: int, cents: int) -> None:
        user = self.people[i]
        wallet = self.services.payouts
        code = self.run(
            refusal(
                wallet.request_payout(
                    user, Decimal(cents).scaleb(-2), PayoutMethod.PAYPAL, "a@b.co", None
                )
            )
        )
        if code == ErrorCode.BELOW_MINIMUM:
            assert cents < self.services.settings.min_payout_cents
        elif code is not None:
            assert code == ErrorCode.INSUFFICIENT_FUNDS
            assert cents > self.available[user.id]
        else:
            self.available[user.id] -= cents

    @rule(fail=st.booleans())
    def process_payouts(self, fail: bool) -> None:
        provider = self.services.providers.payouts
        assert isinstance(provider, SandboxPayoutProvider)
        provider.fail = fail
        ids = [u.id for u in self.people]
        requested = self.run(Payout.filter(user_id__in=ids, status=PayoutStatus.REQUESTED))
        self.run(self.services.payout_processor.process_due())
        for payout in self.run(Payout.filter(id__in=[p.id for p in requested])):
            assert payout.status == (PayoutStatus.FAILED if fail else PayoutStatus.PAID)
            if fail:
                self.available[payout.user_id] += payout.amount

    @rule(i=who, cents=amounts)
    def fund_escrow(self, i: int, cents: int) -> None:
        user = self.people[i]
        task_id = LedgerMachine.take_task_id()

        async def fund() -> None:
            async with self.services.events.transaction():
                await self.services.ledger.fund_escrow(
                    user.id, task_id, cents, "task", fee=cents // 11
                )

        code = self.run(refusal(fund()))
        if code is not None:
            assert code == ErrorCode.INSUFFICIENT_FUNDS
            assert cents > self.available[user.id]
            return
        self.available[user.id] -= cents
        self.escrow[task_id] = (user.id, cents)

    @rule(data=st.data(), worker=who, approve=st.booleans())
    def close_escrow(self, data: st.DataObject, worker: int, approve: bool) -> None:
        if not self.escrow:
            return
        task_id = data.draw(st.sampled_from(sorted(self.escrow)))
        employer_id, cents = self.escrow.pop(task_id)
        worker_id = self.people[worker].id
        fee = cents // 11  # the rest is the reward

        async def close() -> None:
            async with self.services.events.transaction():
                if approve:
                    await self.services.ledger.release_escrow(
                        task_id, worker_id, cents - fee, fee, "approved"
                    )
                else:
                    await self.services.ledger.refund_escrow(
                        task_id, employer_id, cents, "refund", fee=fee
                    )

        self.run(close())
        if approve:
            self.available[worker_id] += cents - fee
        else:
            self.available[employer_id] += cents

    @invariant()
    def ledger_is_balanced(self) -> None:
        report = self.run(audit())
        assert report.ok, report.describe()

    @invariant()
    def balances_match_the_model(self) -> None:
        for user in getattr(self, "people", []):
            assert self.run(self.services.payouts.balance(user.id)) == self.available[user.id]

    _task_ids: ClassVar[int] = 0

    @classmethod
    def take_task_id(cls) -> int:
        cls._task_ids += 1
        return cls._task_ids


def test_ledger_state_machine(backend: Backend, tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    database = fresh_database(backend, str(tmp_path))
    try:
        url = loop.run_until_complete(database.__aenter__())
        session = orm(url)
        loop.run_until_complete(session.__aenter__())
        LedgerMachine.loop = loop
        LedgerMachine.services = Services.build(settings_for(url, "memory://"), ManualClock())
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                # Shrinking replays hundreds of database-backed runs; a failing run is
                # reported as found, with its steps, to keep CI bounded.
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
            ),
        )
        loop.run_until_complete(session.__aexit__(None, None, None))
    finally:
        loop.run_until_complete(database.__aexit__(None, None, None))
        loop.close()
