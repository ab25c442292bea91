"""The ledger's own guarantees, without HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from tortoise.exceptions import IntegrityError, OperationalError

from picotask.models.ledger import Account, AccountKind, LedgerEntry, TransactionKind
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.money.ledger import audit
from picotask.services.registry import Services
from tests.support import assert_ledger_balanced, funded_user, new_user


async def test_deposit_credits_the_user_from_the_outside_world(services: Services) -> None:
    user = await funded_user(services, 1_250)
    assert await services.payouts.balance(user.id) == 1_250
    external = await Account.get(kind=AccountKind.EXTERNAL)
    assert external.balance == -1_250
    await assert_ledger_balanced()


async def test_every_posting_kind_balances(services: Services) -> None:
    employer = await funded_user(services, 10_000)
    worker = await new_user(services)
    ledger, postings = services.ledger, services.events.transaction
    async with postings():
        await ledger.fund_escrow(employer.id, 7, 2_200, "task 7: 2 slots", fee=200)
    async with postings():
        await ledger.release_escrow(7, worker.id, 1_000, 100, "slot 1 approved")
    async with postings():
        await ledger.refund_escrow(7, employer.id, 1_100, "slot 2 unfilled", fee=100)
    async with postings():
        await ledger.bonus(employer.id, worker.id, 50, "great work")
    async with postings():
        await ledger.hold_payout(worker.id, 1, 1_050, "payout 1")
    async with postings():
        await ledger.settle_payout(1, 1_050, "payout 1")

    assert await services.payouts.balance(employer.id) == 10_000 - 2_200 + 1_100 - 50
    assert await services.payouts.balance(worker.id) == 0
    fees = await Account.get(kind=AccountKind.PLATFORM_FEES)
    assert fees.balance == 100
    escrow = await Account.get(ref="escrow:7")
    assert escrow.balance == 0
    summary = await services.payouts.summary(worker.id)
    assert summary.lifetime_earned == 1_050
    await assert_ledger_balanced()


async def test_an_unbalanced_posting_is_refused(services: Services) -> None:
    user = await funded_user(services, 100)
    account = await services.ledger.user_account(user.id)
    with pytest.raises(ValueError, match="unbalanced"):
        await services.ledger.post(TransactionKind.BONUS, [(account, -10)])


async def test_a_debit_beyond_the_balance_writes_nothing(services: Services) -> None:
    employer = await funded_user(services, 500)
    entries_before = await LedgerEntry.all().count()
    with pytest.raises(DomainError) as refused:
        async with services.events.transaction():
            await services.ledger.fund_escrow(employer.id, 1, 501, "too much", fee=0)
    assert refused.value.problems[0].code == ErrorCode.INSUFFICIENT_FUNDS
    assert await services.payouts.balance(employer.id) == 500
    assert await LedgerEntry.all().count() == entries_before
    await assert_ledger_balanced()


async def test_the_database_refuses_a_negative_user_balance(services: Services) -> None:
    user = await funded_user(services, 100)
    with pytest.raises((IntegrityError, OperationalError)):
        await Account.filter(ref=f"user:{user.id}").update(balance=-1)


async def test_audit_finds_a_balance_that_drifted_from_its_entries(services: Services) -> None:
    user = await funded_user(services, 100)
    await Account.filter(ref=f"user:{user.id}").update(balance=90)
    report = await audit()
    assert not report.ok
    assert report.drifted_accounts == [f"user:{user.id}"]
    assert "LEDGER BROKEN" in report.describe()


async def test_audit_finds_an_unbalanced_transaction(services: Services) -> None:
    user = await funded_user(services, 100)
    entry = await LedgerEntry.filter(account__ref=f"user:{user.id}").first()
    assert entry is not None
    await LedgerEntry.create(
        transaction_id=entry.transaction_id, account_id=entry.account_id, amount=1
    )
    report = await audit()
    assert report.unbalanced_transactions == [entry.transaction_id]


def check_ledger_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "picotask.server.cli", "check-ledger"],
        env={**os.environ, "PICOTASK_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_check_ledger_command(services: Services, database_url: str) -> None:
    user = await funded_user(services, 100)
    ok = await asyncio.to_thread(check_ledger_cli, database_url)
    assert ok.returncode == 0, ok.stderr
    assert "ledger OK" in ok.stdout
    await Account.filter(ref=f"user:{user.id}").update(balance=99)
    broken = await asyncio.to_thread(check_ledger_cli, database_url)
    assert broken.returncode == 1
    assert f"user:{user.id}" in broken.stdout
