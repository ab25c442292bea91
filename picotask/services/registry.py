"""Every service of one app instance, wired from settings and a clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

from opentelemetry.trace import Tracer

from picotask.services.accounts.confirmations import Confirmations
from picotask.services.accounts.moderation import ModerationService
from picotask.services.accounts.rate_limits import RateStore
from picotask.services.accounts.recovery import AccountRecovery, MailLimits
from picotask.services.accounts.sessions import Revocations, SessionService
from picotask.services.accounts.throttle import AuthThrottle, CostBudget, rate_store
from picotask.services.accounts.tokens import EmailTokens
from picotask.services.accounts.two_factor import TwoFactor
from picotask.services.accounts.users import PasswordService, UserService
from picotask.services.campaigns.analytics import AnalyticsService
from picotask.services.campaigns.analytics_live import LiveAnalytics
from picotask.services.campaigns.batches import BatchService
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog, Publisher
from picotask.services.integrations.mailer import NotificationMailer
from picotask.services.integrations.notifications import NotificationPreferences
from picotask.services.integrations.webhook_sender import WebhookDispatcher
from picotask.services.integrations.webhooks import WebhookService
from picotask.services.mail.outbox import Mailbox
from picotask.services.mail.sender import MailSender
from picotask.services.mail.transports import Transport, open_transport
from picotask.services.media.image_links import LinkSigner
from picotask.services.media.storage import Storage, open_storage
from picotask.services.media.storage_traced import TracedStorage
from picotask.services.media.uploads import UploadService
from picotask.services.money.ledger import Ledger
from picotask.services.money.statement import StatementService
from picotask.services.payments.bonuses import BonusService
from picotask.services.payments.payout_methods import PayoutMethods
from picotask.services.payments.payout_processor import PayoutProcessor
from picotask.services.payments.payouts import PayoutService
from picotask.services.payments.providers import (
    PaymentProvider,
    PayoutProvider,
    SandboxPaymentProvider,
    SandboxPayoutProvider,
)
from picotask.services.payments.traced import TracedPaymentProvider, TracedPayoutProvider
from picotask.services.quality.grading import QualityService
from picotask.services.targeting.groups import HireGroupService
from picotask.services.targeting.qualifications import QualificationService
from picotask.services.trust.disputes import DisputeService
from picotask.services.trust.messages import TrustService
from picotask.services.trust.ratings import RatingService
from picotask.services.work.proof_images import ProofImages
from picotask.services.work.settlement import Settlement
from picotask.services.work.submissions import SubmissionService
from picotask.services.work.sweeper import Sweeper
from picotask.services.work.tasks import TaskService
from picotask.settings import Settings


@dataclass(slots=True)
class Providers:
    """The outside world; sandboxes unless a deployment supplies real ones."""

    payments: PaymentProvider
    payouts: PayoutProvider
    # Where mail goes: files (development) or SMTP, from PICOTASK_MAIL_URL.
    mail: Transport

    @classmethod
    def sandbox(cls, settings: Settings) -> Providers:
        return cls(
            payments=SandboxPaymentProvider(),
            payouts=SandboxPayoutProvider(fail=settings.payout_provider_fails),
            mail=open_transport(settings),
        )

    def traced(self, tracer: Tracer) -> Providers:
        """The same providers, each call a span (services/payments/traced.py)."""
        return replace(
            self,
            payments=TracedPaymentProvider(self.payments, tracer),
            payouts=TracedPayoutProvider(self.payouts, tracer),
        )


@dataclass(slots=True)
class Services:
    settings: Settings
    clock: Clock
    providers: Providers
    events: EventLog
    revocations: Revocations
    ledger: Ledger
    # Counters of the rate limits (memory, or Redis when the bus is Redis): close on shutdown.
    rate_store: RateStore
    cost_budget: CostBudget
    users: UserService
    # The viewer's own sessions (mySessions, revokeSession).
    sessions: SessionService
    # Mail: the outbox (written in the transactions of the changes that cause it), its sender,
    # the tokens of mailed links, and the account steps that go through the user's mailbox.
    mail: Mailbox
    mail_sender: MailSender
    tokens: EmailTokens
    recovery: AccountRecovery
    # Two factors (TOTP), and the saved payout methods money may leave to.
    two_factor: TwoFactor
    payout_methods: PayoutMethods
    # Notification mail: what each user wants mailed, and the event log's consumer that
    # writes it into the outbox.
    notifications: NotificationPreferences
    notification_mailer: NotificationMailer
    payouts: PayoutService
    payout_processor: PayoutProcessor
    tasks: TaskService
    batches: BatchService
    hire_groups: HireGroupService
    qualifications: QualificationService
    settlement: Settlement
    submissions: SubmissionService
    quality: QualityService
    bonuses: BonusService
    disputes: DisputeService
    moderation: ModerationService
    ratings: RatingService
    trust: TrustService
    sweeper: Sweeper
    # Image bytes (a directory or S3; close on shutdown), and the uploads kept in it.
    storage: Storage
    uploads: UploadService
    statement: StatementService
    analytics: AnalyticsService
    live_analytics: LiveAnalytics
    webhooks: WebhookService
    # Sends webhook deliveries (an HTTP client: close on shutdown).
    webhook_dispatcher: WebhookDispatcher

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        providers: Providers | None = None,
        publish: Publisher | None = None,
        tracer: Tracer | None = None,
    ) -> Services:
        """`publish` puts committed events on the bus; without it they are only logged.
        With a `tracer` (tracing on), every outbound call is a span (services/core/tracing.py)."""
        providers = providers or Providers.sandbox(settings)
        storage = open_storage(settings)
        if tracer is not None:
            providers = providers.traced(tracer)
            storage = TracedStorage(storage, tracer)
        passwords = PasswordService(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        events = EventLog(clock, publish)
        revocations = Revocations()
        ledger = Ledger(clock, events)
        limits = rate_store(settings)
        tasks = TaskService(settings, clock, ledger, events)
        settlement = Settlement(settings, clock, ledger, tasks, events)
        quality = QualityService(clock, events, tasks, settlement)
        analytics = AnalyticsService()
        links = LinkSigner(
            settings.signing_secret,
            clock,
            settings.image_link_seconds,
            production=settings.is_production,
        )
        uploads = UploadService(settings, clock, storage, links)
        mail = Mailbox(settings, clock)
        tokens = EmailTokens(clock)
        confirmations = Confirmations(settings, mail, tokens)
        two_factor = TwoFactor(settings, clock, mail, limits)
        mail_limits = MailLimits(limits, clock, settings)
        payout_methods = PayoutMethods(settings, mail, tokens, two_factor, mail_limits)
        payouts = PayoutService(
            settings, clock, ledger, providers.payments, events, two_factor, payout_methods
        )
        throttle = AuthThrottle(limits, clock, settings)
        notifications = NotificationPreferences(clock, tokens)
        users = UserService(
            passwords,
            clock,
            ledger,
            settings.session_ttl_seconds,
            revocations,
            throttle=throttle,
            min_password_score=settings.min_password_score,
            confirmations=confirmations,
            two_factor=two_factor,
        )
        return cls(
            settings=settings,
            clock=clock,
            providers=providers,
            events=events,
            revocations=revocations,
            ledger=ledger,
            rate_store=limits,
            cost_budget=CostBudget(limits, clock, settings),
            users=users,
            sessions=SessionService(clock, revocations),
            mail=mail,
            mail_sender=MailSender(settings, clock, mail, providers.mail),
            tokens=tokens,
            recovery=AccountRecovery(settings, users, confirmations, mail_limits),
            two_factor=two_factor,
            payout_methods=payout_methods,
            notifications=notifications,
            notification_mailer=NotificationMailer(settings, clock, mail, tokens, notifications),
            payouts=payouts,
            payout_processor=PayoutProcessor(
                clock,
                ledger,
                providers.payouts,
                payouts.settle_deposit,
                events,
                poll_seconds=settings.payout_poll_seconds,
                max_attempts=settings.payout_max_attempts,
                retry_base_seconds=settings.payout_retry_base_seconds,
                call_timeout_seconds=settings.payout_call_timeout_seconds,
            ),
            tasks=tasks,
            batches=BatchService(settings, tasks),
            hire_groups=HireGroupService(clock),
            qualifications=QualificationService(clock, events),
            settlement=settlement,
            submissions=SubmissionService(
                settings, clock, settlement, events, ProofImages(settings), quality
            ),
            quality=quality,
            bonuses=BonusService(settings, clock, ledger, events),
            disputes=DisputeService(clock, settlement, events),
            moderation=ModerationService(clock, events, revocations),
            ratings=RatingService(clock),
            trust=TrustService(clock, events, tasks),
            sweeper=Sweeper(settings, clock, tasks, settlement, events, uploads, tokens),
            storage=storage,
            uploads=uploads,
            statement=StatementService(settings),
            analytics=analytics,
            live_analytics=LiveAnalytics(analytics),
            webhooks=WebhookService(settings, clock, events),
            webhook_dispatcher=WebhookDispatcher(settings, clock, events, tracer),
        )
