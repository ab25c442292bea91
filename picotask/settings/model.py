"""The settings: each field's bounds beside it, the rules between fields in one validator.

Money is held in integer cents; durations in seconds (int, or float where a fraction matters).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from picotask.settings import environment
from picotask.settings.environment import env_name
from picotask.settings.values import (
    BroadcastUrl,
    Cents,
    DatabaseUrl,
    Flag,
    GcThreshold,
    MailUrl,
    Networks,
    Origins,
    PublicUrl,
    Secret,
    StorageUrl,
)

Environment = Literal["development", "production"]

_RELATIONS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "<=": (operator.le, "at most"),
    ">=": (operator.ge, "at least"),
    ">": (operator.gt, "longer than"),
}
# A field, how it must compare with another: each rule's message names both variables.
_RULES = (
    ("min_reward_cents", "<=", "max_reward_cents"),
    ("min_payout_cents", "<=", "max_payout_cents"),
    ("default_claim_timeout_seconds", ">=", "min_claim_timeout_seconds"),
    ("default_claim_timeout_seconds", "<=", "max_claim_timeout_seconds"),
    ("default_review_window_seconds", ">=", "min_review_window_seconds"),
    ("default_review_window_seconds", "<=", "max_review_window_seconds"),
    ("webhook_max_per_endpoint", "<=", "webhook_max_concurrency"),
    ("max_query_cost", "<=", "cost_budget"),
    ("throttle_base_delay_seconds", "<=", "throttle_max_delay_seconds"),
    ("throttle_window_seconds", ">", "throttle_max_delay_seconds"),
    ("bus_gap_grace_seconds", "<=", "bus_log_poll_seconds"),
    ("upload_unused_seconds", ">=", "upload_slot_seconds"),
)


class Settings(BaseSettings):
    # Inputs stay out of pydantic's own messages (a secret could be one); `from_env` shows them,
    # secrets aside.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        case_sensitive=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
    )

    database_url: DatabaseUrl = "sqlite://var/picotask.sqlite3"
    broadcast_url: BroadcastUrl = "memory://"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    # The reverse proxies whose X-Forwarded-For (and -Proto) names the client: the client
    # address (throttles, socket caps, cost budgets) is the forwarded one only when the peer is
    # one of them (server/cli.py `serving`). Empty: nobody's, the peer is the client.
    trusted_proxies: Networks = ()
    env: Environment = "development"
    allowed_origins: Origins = ()
    migrate_on_start: Flag = True
    # The reference web app's build (`web/dist`), served at `/` when it holds an index.html;
    # empty: none.
    web_dir: str = "web/dist"
    # Background work (payout processing, later the sweeper); tests drive it by hand instead.
    background_workers: Flag = True
    # On SIGTERM: how long in-flight requests, the websockets' last frames and the background
    # rounds under way may take to finish before what is left is cancelled (server/shutdown.py).
    shutdown_grace_seconds: NonNegativeFloat = Field(20.0, le=3_600)
    # Logs (server/logs.py): text lines, or JSON lines for a log collector; the root level.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics (server/metrics.py): 404 unless `metrics` is on (open to whoever reaches the
    # port: for a port only the scraper reaches) or a token is set (then a bearer token).
    metrics: Flag = False
    metrics_token: Secret = ""
    # Processes that share a host and a scraper write their series here (prometheus-client's
    # multiprocess mode); empty: each process answers for itself.
    metrics_dir: str = ""
    # Distinct operation names counted by name; later ones are counted as `other`.
    metrics_max_operation_names: PositiveInt = 200

    # Marketplace defaults (API.md "Defaults"); money in integer cents.
    currency: str = "USD"
    platform_fee_percent: int = Field(10, ge=0, le=100)
    min_reward_cents: Cents = Field(1, gt=0)
    max_reward_cents: Cents = 100_000
    min_payout_cents: Cents = Field(500, gt=0)
    default_claim_timeout_seconds: int = 3_600
    min_claim_timeout_seconds: int = 60
    max_claim_timeout_seconds: int = 86_400
    default_review_window_seconds: int = 259_200
    min_review_window_seconds: int = 60
    max_review_window_seconds: int = 2_592_000
    revision_deadline_seconds: int = 86_400
    dispute_window_seconds: int = 604_800

    # Accounts.
    session_ttl_seconds: PositiveInt = 30 * 86_400
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    # Claiming, posting and withdrawing need a confirmed email address; unset: required in
    # production only, so `make run` stays one step (the confirmation mail is still sent).
    require_confirmed_email: Flag | None = None
    # Lifetimes of the links mailed: confirming an address, resetting a password.
    confirm_email_seconds: int = Field(259_200, ge=300, le=2_592_000)
    password_reset_seconds: int = Field(3_600, ge=300, le=86_400)
    # Mails asking to confirm or reset, per address and per account: this many at once, one
    # more each `account_mail_every_seconds`.
    account_mail_burst: int = Field(3, ge=1, le=100)
    account_mail_every_seconds: float = Field(600.0, gt=0, le=86_400)
    # Two factors (services/accounts/two_factor.py): wrong codes a user may give before each
    # one more waits base * 2^(n - 1) seconds as failed log-ins do (the throttle_* settings).
    two_factor_free_failures: NonNegativeInt = 5
    # The issuer an authenticator app shows beside the account; empty: `product_name`.
    two_factor_issuer: str = Field("", max_length=60)
    # Saved payout methods (services/payments/payout_methods.py): money leaves to one only this
    # long after it was confirmed, so a thief who just took over an account cannot empty it at
    # once; its confirmation link (without two factors) lives this long; at most this many per
    # user. Unset `require_saved_payout_method`: required in production only (requestPayout
    # then needs payoutMethodId).
    payout_method_cooldown_seconds: NonNegativeInt = 86_400
    payout_method_link_seconds: int = Field(86_400, ge=300, le=2_592_000)
    max_payout_methods: int = Field(10, ge=1, le=100)
    require_saved_payout_method: Flag | None = None

    # Mail (services/mail/): `file://DIR` writes each mail as DIR/<id>.eml (development);
    # `smtp://HOST:PORT` (STARTTLS when the server offers it) or `smtps://HOST:PORT` (TLS from
    # the start) sends it, signed in with the username and password when they are set.
    mail_url: MailUrl = "file://var/mail"
    mail_username: str = ""
    mail_password: Secret = ""
    mail_from: str = "picotask <no-reply@picotask.localhost>"
    # The product's name in mails, and the web app's address their links point into; empty:
    # PICOTASK_PUBLIC_URL, else http://HOST:PORT.
    product_name: str = Field("picotask", min_length=1, max_length=60)
    web_url: PublicUrl = ""
    mail_poll_seconds: float = Field(1.0, gt=0, le=60)
    mail_timeout_seconds: float = Field(30.0, gt=0, le=300)  # one attempt: connect to the end
    # A failed attempt is retried after base * 2^(attempt - 1) seconds (at most an hour apart),
    # for this long after the mail was written; then it is given up.
    mail_retry_base_seconds: float = Field(30.0, gt=0, le=3_600)
    mail_retry_window_seconds: int = Field(172_800, ge=60, le=1_209_600)
    mail_max_concurrency: int = Field(4, ge=1, le=100)  # attempts in flight per instance
    # Notification mail (services/integrations/mailer.py): an employer gets at most one "new
    # submissions" mail per task per this many seconds (the first at once, the rest counted in
    # the next); an unsubscribe link in a notification works for this long.
    submission_digest_seconds: int = Field(900, ge=0, le=86_400)
    unsubscribe_link_seconds: int = Field(5_184_000, ge=86_400, le=31_536_000)

    # Money movement.
    max_deposit_cents: Cents = 1_000_000
    max_payout_cents: Cents = 1_000_000
    payout_provider_fails: Flag = False
    payout_poll_seconds: float = 1.0
    sweep_interval_seconds: float = 5.0
    # A provider call that raises is retried with the same idempotency key after
    # base * 2^(attempt - 1) seconds; after the last attempt the payout fails and is refunded.
    payout_max_attempts: int = Field(5, ge=1, le=20)
    payout_retry_base_seconds: float = Field(60.0, gt=0, le=86_400)
    # A provider call taking longer counts as one that raised. Below the processor's 60 s lease,
    # so no two calls for one payout are ever in flight at once.
    payout_call_timeout_seconds: float = Field(30.0, gt=0, lt=60)

    # Webhooks (services/integrations/webhooks.py). Receivers on loopback are refused unless
    # allowed (for development and tests); private and link-local ones always. Production needs
    # https.
    webhook_allow_loopback: Flag = False
    webhook_poll_seconds: float = Field(1.0, gt=0, le=60)
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=30)  # one attempt: connect, send, read
    # A failed attempt is retried after base * 2^(attempt - 1) seconds (at most an hour apart),
    # for this long after the event; then the delivery fails and the endpoint is disabled.
    webhook_retry_base_seconds: float = Field(30.0, gt=0, le=3_600)
    webhook_retry_window_seconds: int = Field(86_400, ge=60, le=604_800)
    webhook_max_concurrency: int = Field(20, ge=1, le=1_000)  # attempts in flight per instance
    webhook_max_per_endpoint: int = Field(2, ge=1)  # of those, to one endpoint
    webhook_max_endpoints: int = Field(10, ge=1, le=100)  # per user

    # Statements and dashboards: the longest date range one report covers (statement filters,
    # totals, CSV exports, employer analytics), and the most rows one CSV export holds.
    report_max_range_days: PositiveInt = 366
    statement_csv_max_rows: PositiveInt = 10_000

    # Batches: the most items one batch (or one addBatchItems) holds, and the largest file
    # (CSV or JSON, in bytes as UTF-8) one request may bring; below the 1 MiB request body.
    batch_max_items: int = Field(10_000, ge=1, le=10_000)
    batch_max_file_bytes: int = Field(1_000_000, ge=1, le=1_048_576)

    # GraphQL safety limits.
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    parser_cache_size: int = 512
    validation_cache_size: int = 512
    # Automatic persisted queries (server/persisted.py): texts kept per instance (and in Redis,
    # with a Redis bus, for this long), and the longest text kept.
    persisted_queries_size: PositiveInt = 2_000
    persisted_query_max_chars: int = Field(32_768, gt=0, le=1_048_576)
    persisted_query_ttl_seconds: PositiveInt = 604_800
    # Redis keys start with this (instances that share a Redis and a prefix share them).
    redis_key_prefix: str = "picotask"
    # A serving process collects its youngest objects after this many allocations (Python's
    # default is 700, costly for the many short-lived objects of each request); 0 keeps it.
    gc_threshold: GcThreshold = 20_000
    max_subscriptions_per_connection: int = 20
    # JSON bodies, variables and websocket messages nested deeper than this are refused.
    max_json_depth: int = 32

    # Cost of one operation, in points as Shopify counts them (an object is 1, a connection
    # costs `first` times its items; server/cost.py), and each client's budget of points, which
    # refills continuously (per user; per client address when anonymous).
    max_query_cost: PositiveInt = 2_500
    cost_budget: int = 5_000
    cost_restore_per_second: PositiveFloat = 100.0

    # Log-in and sign-up throttling: after the free attempts, each one more makes the key
    # wait base * 2^(n - 1) seconds (at most the maximum); a key's count is forgotten after
    # the window without attempts. Failed log-ins count per account and per client address
    # (a success clears the account's); every sign-up counts per client address.
    log_in_free_failures_per_account: NonNegativeInt = 5
    log_in_free_failures_per_address: NonNegativeInt = 20
    sign_up_free_per_address: NonNegativeInt = 10
    throttle_base_delay_seconds: PositiveFloat = 1.0
    throttle_max_delay_seconds: float = 900.0
    throttle_window_seconds: float = 3_600.0
    # Keys the in-memory store keeps (least recently used dropped first); Redis keeps its own.
    throttle_memory_keys: PositiveInt = 100_000
    # With a Redis bus the counters live in Redis (under `redis_key_prefix`), shared by every
    # instance; a Redis call slower than this counts as Redis being down: each instance then
    # counts alone, in memory, until Redis answers again.
    redis_timeout_seconds: float = Field(0.5, gt=0, le=10)
    # Passwords zxcvbn scores below this (0..4) are refused: common and breached passwords
    # and their simple variations score 0 or 1.
    min_password_score: int = Field(2, ge=0, le=4)

    # Real time.
    subscriber_queue_size: int = 1_000
    bus_heartbeat_seconds: float = 1.0
    # Each instance reads the event log this often for events its bus did not bring (a failed
    # publish, an instance that died before publishing, an outage): one query per instance.
    bus_log_poll_seconds: float = Field(0.5, gt=0, le=60)
    # An event that arrives ahead of a missing id waits this long for the bus to bring the
    # missing one before the log is read (which tells whether it will ever commit).
    bus_gap_grace_seconds: NonNegativeFloat = 0.1
    # The event log keeps this many days of events (the `events` query, subscriptions' `after`):
    # the sweeper removes older ones once every durable reader (the webhook fan-out, the
    # notification mailer) has passed them, and a cursor from before what is kept is refused
    # (CURSOR_EXPIRED). 0: kept forever.
    event_retention_days: int = Field(30, ge=0, le=36_500)

    # Websockets; the limits are counted per instance.
    ws_init_timeout_seconds: float = Field(5.0, gt=0, le=60)  # until `connection_init` (4408)
    max_sockets_per_user: PositiveInt = 20  # authenticated sockets of one account (else 4429)
    max_sockets_per_address: PositiveInt = 100  # sockets from one client address (else 4429)
    # The largest message, as for HTTP bodies (else 1009).
    max_ws_message_bytes: int = Field(1_048_576, ge=1_024, le=64 * 1_048_576)
    # How often open sockets are checked for sessions that expired or must be re-read.
    session_check_seconds: float = Field(0.5, gt=0, le=10)
    # How long a socket acts on what it knows of its session without reading the database
    # again, while the bus (which brings revocations at once) has been up all along.
    session_trust_seconds: float = Field(5.0, ge=0, le=300)

    # Images: proof screenshots (private) and avatars (public), uploaded in two steps.
    # Where the bytes live: `file://DIR` (one machine) or `s3://BUCKET/PREFIX` (several
    # instances; the S3_* settings below, empty ones left to boto3's own configuration).
    storage_url: StorageUrl = "file://var/uploads"
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: Secret = ""
    # Signs image links; every instance needs the same one. Empty: a random one per process
    # (links die with the process, and one instance cannot check another's).
    signing_secret: Secret = ""
    # The scheme and host clients reach this server at, for upload and image links; empty:
    # the host the request came to.
    public_url: PublicUrl = ""
    max_image_bytes: int = Field(10_485_760, ge=1_024, le=100 * 1_048_576)
    # Width x height; a larger image (or a small file claiming one: a decompression bomb) is
    # refused before its pixels are decoded. Pillow refuses more than 80 M as a bomb.
    max_image_pixels: int = Field(40_000_000, ge=1, le=80_000_000)
    max_images_per_answer: int = Field(5, ge=1, le=50)
    max_pending_uploads_per_user: PositiveInt = 50
    upload_slot_seconds: int = Field(900, ge=10, le=86_400)  # to send the bytes after createUpload
    upload_unused_seconds: int = 86_400  # an image never used within this is removed
    image_link_seconds: int = Field(900, ge=10, le=604_800)  # lifetime of a link to a proof image
    thumbnail_pixels: int = Field(320, ge=16, le=2_048)  # longest side of a thumbnail
    avatar_pixels: int = Field(512, ge=16, le=4_096)  # longest side of a stored avatar
    image_workers: int = Field(2, ge=1, le=64)  # images decoded at once, per instance
    # Proof images are removed this long after their task closed (once no review, revision
    # or dispute can still need them).
    image_retention_seconds: PositiveInt = 15_552_000
    # Near-duplicate proof images: at most this far apart (differing bits of 192, plus one per
    # percent a crop cut: services/media/fingerprints.py) is a match; the newest this-many
    # proof images of the employer are compared with each new one.
    image_match_max_distance: int = Field(40, ge=0, le=192)
    image_match_candidates: PositiveInt = 5_000

    # Traces (README, "Tracing"): OpenTelemetry spans per operation, database query and
    # outbound call, exported over OTLP/HTTP to the OTEL_EXPORTER_OTLP_* endpoint. Off: nothing
    # of it is installed. The ratio is of traces started here (an incoming `traceparent`'s
    # decision is kept).
    tracing: Flag = False
    trace_sample_ratio: float = Field(0.1, ge=0, le=1)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def confirmation_required(self) -> bool:
        """Whether claiming, posting and withdrawing wait for a confirmed email address."""
        if self.require_confirmed_email is None:
            return self.is_production
        return self.require_confirmed_email

    @property
    def saved_payout_method_required(self) -> bool:
        """Whether requestPayout takes only a saved payout method (payoutMethodId)."""
        if self.require_saved_payout_method is None:
            return self.is_production
        return self.require_saved_payout_method

    @property
    def link_base(self) -> str:
        """Where the links of mails point: the web app."""
        return self.web_url or self.public_url or f"http://{self.host}:{self.port}"

    @model_validator(mode="after")
    def _rules_between_fields(self) -> Self:
        broken = []
        for field, relation, other in _RULES:
            holds, words = _RELATIONS[relation]
            if not holds(getattr(self, field), getattr(self, other)):
                broken.append(
                    f"{env_name(field)}: must be {words} {env_name(other)} "
                    f"({self._shown(other)}), got {self._shown(field)}"
                )
        if broken:
            raise PydanticCustomError("settings_rule", "{rules}", {"rules": "; ".join(broken)})
        return self

    def _shown(self, field: str) -> str:
        """A value as its variable gives it: money as a decimal, not in cents."""
        value = getattr(self, field)
        return f"{value // 100}.{value % 100:02d}" if field.endswith("_cents") else str(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values given in code are the whole story (tests build their own); `from_env` adds the
        # environment and the `.env` file.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Every `PICOTASK_*` variable of the environment and of the `.env` file (the README's
        "Configuration"; `environment.read`); fields not set keep their defaults."""
        return environment.read(cls, environ, overrides)
