"""Typed settings, read from the environment once.

Every variable is `PICOTASK_<FIELD>`; an invalid value stops start-up with a `SettingsError`
that names the variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlparse

PREFIX = "PICOTASK_"
Environment = Literal["development", "production"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite://var/picotask.sqlite3"
    broadcast_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = 8000
    env: Environment = "development"
    allowed_origins: tuple[str, ...] = ()
    migrate_on_start: bool = True
    # The reference web app's build (`web/dist`), served at `/` when it holds an index.html;
    # empty: none.
    web_dir: str = "web/dist"
    # Background work (payout processing, later the sweeper); tests drive it by hand instead.
    background_workers: bool = True

    # Marketplace defaults (API.md "Defaults"); money in integer cents.
    currency: str = "USD"
    platform_fee_percent: int = 10
    min_reward_cents: int = 1
    max_reward_cents: int = 100_000
    min_payout_cents: int = 500
    default_claim_timeout_seconds: int = 3_600
    min_claim_timeout_seconds: int = 60
    max_claim_timeout_seconds: int = 86_400
    default_review_window_seconds: int = 259_200
    min_review_window_seconds: int = 60
    max_review_window_seconds: int = 2_592_000
    revision_deadline_seconds: int = 86_400
    dispute_window_seconds: int = 604_800

    # Accounts.
    session_ttl_seconds: int = 30 * 86_400
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4

    # Money movement.
    max_deposit_cents: int = 1_000_000
    max_payout_cents: int = 1_000_000
    payout_provider_fails: bool = False
    payout_poll_seconds: float = 1.0
    sweep_interval_seconds: float = 5.0
    # A provider call that raises is retried with the same idempotency key after
    # base * 2^(attempt - 1) seconds; after the last attempt the payout fails and is refunded.
    payout_max_attempts: int = 5
    payout_retry_base_seconds: float = 60.0
    # A provider call taking longer counts as one that raised. Below the processor's 60 s lease,
    # so no two calls for one payout are ever in flight at once.
    payout_call_timeout_seconds: float = 30.0

    # Webhooks (services/integrations/webhooks.py). Receivers on loopback are refused unless
    # allowed (for development and tests); private and link-local ones always. Production needs
    # https.
    webhook_allow_loopback: bool = False
    webhook_poll_seconds: float = 1.0
    webhook_timeout_seconds: float = 5.0  # one attempt: connect, send, read the answer
    # A failed attempt is retried after base * 2^(attempt - 1) seconds (at most an hour apart),
    # for this long after the event; then the delivery fails and the endpoint is disabled.
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_window_seconds: int = 86_400
    webhook_max_concurrency: int = 20  # attempts in flight per instance
    webhook_max_per_endpoint: int = 2  # of those, to one endpoint
    webhook_max_endpoints: int = 10  # per user

    # Statements and dashboards: the longest date range one report covers (statement filters,
    # totals, CSV exports, employer analytics), and the most rows one CSV export holds.
    report_max_range_days: int = 366
    statement_csv_max_rows: int = 10_000

    # Batches: the most items one batch (or one addBatchItems) holds, and the largest file
    # (CSV or JSON, in bytes as UTF-8) one request may bring; below the 1 MiB request body.
    batch_max_items: int = 10_000
    batch_max_file_bytes: int = 1_000_000

    # GraphQL safety limits.
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    parser_cache_size: int = 512
    validation_cache_size: int = 512
    # Automatic persisted queries (server/persisted.py): texts kept per instance (and in Redis,
    # with a Redis bus, for this long), and the longest text kept.
    persisted_queries_size: int = 2_000
    persisted_query_max_chars: int = 32_768
    persisted_query_ttl_seconds: int = 604_800
    # Redis keys start with this (instances that share a Redis and a prefix share them).
    redis_key_prefix: str = "picotask"
    # A serving process collects its youngest objects after this many allocations (Python's
    # default is 700, costly for the many short-lived objects of each request); 0 keeps it.
    gc_threshold: int = 20_000
    max_subscriptions_per_connection: int = 20
    # JSON bodies, variables and websocket messages nested deeper than this are refused.
    max_json_depth: int = 32

    # Cost of one operation, in points as Shopify counts them (an object is 1, a connection
    # costs `first` times its items; server/cost.py), and each client's budget of points, which
    # refills continuously (per user; per client address when anonymous).
    max_query_cost: int = 2_500
    cost_budget: int = 5_000
    cost_restore_per_second: float = 100.0

    # Log-in and sign-up throttling: after the free attempts, each one more makes the key
    # wait base * 2^(n - 1) seconds (at most the maximum); a key's count is forgotten after
    # the window without attempts. Failed log-ins count per account and per client address
    # (a success clears the account's); every sign-up counts per client address.
    log_in_free_failures_per_account: int = 5
    log_in_free_failures_per_address: int = 20
    sign_up_free_per_address: int = 10
    throttle_base_delay_seconds: float = 1.0
    throttle_max_delay_seconds: float = 900.0
    throttle_window_seconds: float = 3_600.0
    # Keys the in-memory store keeps (least recently used dropped first); Redis keeps its own.
    throttle_memory_keys: int = 100_000
    # With a Redis bus the counters live in Redis (under `redis_key_prefix`), shared by every
    # instance; a Redis call slower than this counts as Redis being down: each instance then
    # counts alone, in memory, until Redis answers again.
    redis_timeout_seconds: float = 0.5
    # Passwords zxcvbn scores below this (0..4) are refused: common and breached passwords
    # and their simple variations score 0 or 1.
    min_password_score: int = 2

    # Real time.
    subscriber_queue_size: int = 1_000
    bus_heartbeat_seconds: float = 1.0
    # Each instance reads the event log this often for events its bus did not bring (a failed
    # publish, an instance that died before publishing, an outage): one query per instance.
    bus_log_poll_seconds: float = 0.5
    # An event that arrives ahead of a missing id waits this long for the bus to bring the
    # missing one before the log is read (which tells whether it will ever commit).
    bus_gap_grace_seconds: float = 0.1

    # Websockets; the limits are counted per instance.
    ws_init_timeout_seconds: float = 5.0  # until `connection_init` (else closed with 4408)
    max_sockets_per_user: int = 20  # authenticated sockets of one account (else 4429)
    max_sockets_per_address: int = 100  # sockets from one client address (else 4429)
    max_ws_message_bytes: int = 1_048_576  # the largest message, as for HTTP bodies (else 1009)
    # How often open sockets are checked for sessions that expired or must be re-read.
    session_check_seconds: float = 0.5
    # How long a socket acts on what it knows of its session without reading the database
    # again, while the bus (which brings revocations at once) has been up all along.
    session_trust_seconds: float = 5.0

    # Images: proof screenshots (private) and avatars (public), uploaded in two steps.
    # Where the bytes live: `file://DIR` (one machine) or `s3://BUCKET/PREFIX` (several
    # instances; the S3_* settings below, empty ones left to boto3's own configuration).
    storage_url: str = "file://var/uploads"
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # Signs image links; every instance needs the same one. Empty: a random one per process
    # (links die with the process, and one instance cannot check another's).
    signing_secret: str = ""
    # The scheme and host clients reach this server at, for upload and image links; empty:
    # the host the request came to.
    public_url: str = ""
    max_image_bytes: int = 10_485_760
    # Width x height; a larger image (or a small file claiming one: a decompression bomb) is
    # refused before its pixels are decoded.
    max_image_pixels: int = 40_000_000
    max_images_per_answer: int = 5
    max_pending_uploads_per_user: int = 50
    upload_slot_seconds: int = 900  # time to send the bytes after createUpload
    upload_unused_seconds: int = 86_400  # an image never used within this is removed
    image_link_seconds: int = 900  # lifetime of a signed link to a proof image
    thumbnail_pixels: int = 320  # longest side of a thumbnail
    avatar_pixels: int = 512  # longest side of a stored avatar
    image_workers: int = 2  # images decoded at once, per instance
    # Proof images are removed this long after their task closed (once no review, revision
    # or dispute can still need them).
    image_retention_seconds: int = 15_552_000
    # Near-duplicate proof images: at most this many differing bits of 128 is a match; the
    # newest this-many proof images of the employer are compared with each new one.
    image_match_max_distance: int = 20
    image_match_candidates: int = 5_000

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every `PICOTASK_*` variable; unknown fields keep their defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.name)
            if name not in environ:
                continue
            parse = _PARSERS.get(f.name) or _parser_for_default(f.default)
            try:
                values[f.name] = parse(environ[name])
            except (ValueError, InvalidOperation) as exc:
                raise SettingsError(f"{name}: {exc}") from None
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Cross-field checks; raise `SettingsError` naming the variable."""
        checks: list[tuple[str, bool, str]] = [
            ("PORT", 0 <= self.port <= 65_535, "must be a port number"),
            ("PERSISTED_QUERIES_SIZE", self.persisted_queries_size > 0, "must be positive"),
            (
                "GC_THRESHOLD",
                self.gc_threshold == 0 or 100 <= self.gc_threshold <= 10_000_000,
                "must be 0 (Python's default) or 100..10000000",
            ),
            (
                "PERSISTED_QUERY_MAX_CHARS",
                0 < self.persisted_query_max_chars <= 1_048_576,
                "must be 1..1048576",
            ),
            (
                "PERSISTED_QUERY_TTL_SECONDS",
                self.persisted_query_ttl_seconds > 0,
                "must be positive",
            ),
            ("PLATFORM_FEE_PERCENT", 0 <= self.platform_fee_percent <= 100, "must be 0..100"),
            ("MIN_REWARD_CENTS", 0 < self.min_reward_cents <= self.max_reward_cents, "bad range"),
            ("MIN_PAYOUT_CENTS", 0 < self.min_payout_cents <= self.max_payout_cents, "bad range"),
            ("SESSION_TTL_SECONDS", self.session_ttl_seconds > 0, "must be positive"),
            ("REPORT_MAX_RANGE_DAYS", self.report_max_range_days > 0, "must be positive"),
            ("STATEMENT_CSV_MAX_ROWS", self.statement_csv_max_rows > 0, "must be positive"),
            ("BATCH_MAX_ITEMS", 1 <= self.batch_max_items <= 10_000, "must be 1..10000"),
            (
                "BATCH_MAX_FILE_BYTES",
                1 <= self.batch_max_file_bytes <= 1_048_576,
                "must be 1..1048576",
            ),
            ("BUS_LOG_POLL_SECONDS", 0 < self.bus_log_poll_seconds <= 60, "must be 0..60"),
            (
                "BUS_GAP_GRACE_SECONDS",
                0 <= self.bus_gap_grace_seconds <= self.bus_log_poll_seconds,
                "must be 0..BUS_LOG_POLL_SECONDS",
            ),
            (
                "MAX_QUERY_COST",
                0 < self.max_query_cost <= self.cost_budget,
                "must be positive and at most COST_BUDGET",
            ),
            ("COST_RESTORE_PER_SECOND", self.cost_restore_per_second > 0, "must be positive"),
            (
                "THROTTLE_BASE_DELAY_SECONDS",
                0 < self.throttle_base_delay_seconds <= self.throttle_max_delay_seconds,
                "must be positive and at most THROTTLE_MAX_DELAY_SECONDS",
            ),
            (
                "THROTTLE_WINDOW_SECONDS",
                self.throttle_window_seconds > self.throttle_max_delay_seconds,
                "must be longer than THROTTLE_MAX_DELAY_SECONDS",
            ),
            (
                "LOG_IN_FREE_FAILURES_PER_ACCOUNT",
                min(
                    self.log_in_free_failures_per_account,
                    self.log_in_free_failures_per_address,
                    self.sign_up_free_per_address,
                )
                >= 0,
                "free attempts must not be negative",
            ),
            ("THROTTLE_MEMORY_KEYS", self.throttle_memory_keys > 0, "must be positive"),
            ("REDIS_TIMEOUT_SECONDS", 0 < self.redis_timeout_seconds <= 10, "must be 0..10"),
            ("MIN_PASSWORD_SCORE", 0 <= self.min_password_score <= 4, "must be 0..4"),
            (
                "WS_INIT_TIMEOUT_SECONDS",
                0 < self.ws_init_timeout_seconds <= 60,
                "must be more than 0 and at most 60",
            ),
            ("MAX_SOCKETS_PER_USER", self.max_sockets_per_user > 0, "must be positive"),
            ("MAX_SOCKETS_PER_ADDRESS", self.max_sockets_per_address > 0, "must be positive"),
            (
                "MAX_WS_MESSAGE_BYTES",
                1_024 <= self.max_ws_message_bytes <= 64 * 1_048_576,
                "must be 1024..67108864",
            ),
            (
                "SESSION_CHECK_SECONDS",
                0 < self.session_check_seconds <= 10,
                "must be more than 0 and at most 10",
            ),
            ("SESSION_TRUST_SECONDS", 0 <= self.session_trust_seconds <= 300, "must be 0..300"),
            (
                "WEBHOOK_TIMEOUT_SECONDS",
                0 < self.webhook_timeout_seconds <= 30,
                "must be more than 0 and at most 30",
            ),
            ("WEBHOOK_POLL_SECONDS", 0 < self.webhook_poll_seconds <= 60, "must be 0..60"),
            (
                "WEBHOOK_RETRY_BASE_SECONDS",
                0 < self.webhook_retry_base_seconds <= 3_600,
                "must be more than 0 and at most 3600",
            ),
            (
                "WEBHOOK_RETRY_WINDOW_SECONDS",
                60 <= self.webhook_retry_window_seconds <= 604_800,
                "must be 60..604800",
            ),
            (
                "WEBHOOK_MAX_PER_ENDPOINT",
                1 <= self.webhook_max_per_endpoint <= self.webhook_max_concurrency <= 1_000,
                "must be 1..WEBHOOK_MAX_CONCURRENCY (at most 1000)",
            ),
            ("WEBHOOK_MAX_ENDPOINTS", 1 <= self.webhook_max_endpoints <= 100, "must be 1..100"),
            ("PAYOUT_MAX_ATTEMPTS", 1 <= self.payout_max_attempts <= 20, "must be 1..20"),
            (
                "PAYOUT_RETRY_BASE_SECONDS",
                0 < self.payout_retry_base_seconds <= 86_400,
                "must be more than 0 and at most 86400",
            ),
            (
                "PAYOUT_CALL_TIMEOUT_SECONDS",
                0 < self.payout_call_timeout_seconds < 60,
                "must be more than 0 and less than the payout lease (60)",
            ),
            (
                "MAX_IMAGE_BYTES",
                1_024 <= self.max_image_bytes <= 100 * 1_048_576,
                "must be 1024..104857600",
            ),
            (
                "MAX_IMAGE_PIXELS",
                1 <= self.max_image_pixels <= 80_000_000,
                "must be 1..80000000 (Pillow refuses more as a decompression bomb)",
            ),
            ("MAX_IMAGES_PER_ANSWER", 1 <= self.max_images_per_answer <= 50, "must be 1..50"),
            (
                "MAX_PENDING_UPLOADS_PER_USER",
                self.max_pending_uploads_per_user > 0,
                "must be positive",
            ),
            ("UPLOAD_SLOT_SECONDS", 10 <= self.upload_slot_seconds <= 86_400, "must be 10..86400"),
            (
                "UPLOAD_UNUSED_SECONDS",
                self.upload_unused_seconds >= self.upload_slot_seconds,
                "must be at least UPLOAD_SLOT_SECONDS",
            ),
            ("IMAGE_LINK_SECONDS", 10 <= self.image_link_seconds <= 604_800, "must be 10..604800"),
            ("THUMBNAIL_PIXELS", 16 <= self.thumbnail_pixels <= 2_048, "must be 16..2048"),
            ("AVATAR_PIXELS", 16 <= self.avatar_pixels <= 4_096, "must be 16..4096"),
            ("IMAGE_WORKERS", 1 <= self.image_workers <= 64, "must be 1..64"),
            ("IMAGE_RETENTION_SECONDS", self.image_retention_seconds > 0, "must be positive"),
            (
                "IMAGE_MATCH_MAX_DISTANCE",
                0 <= self.image_match_max_distance <= 64,
                "must be 0..64 (of 128 bits)",
            ),
            ("IMAGE_MATCH_CANDIDATES", self.image_match_candidates > 0, "must be positive"),
            (
                "DEFAULT_CLAIM_TIMEOUT_SECONDS",
                self.min_claim_timeout_seconds
                <= self.default_claim_timeout_seconds
                <= self.max_claim_timeout_seconds,
                "must lie between the minimum and maximum claim timeout",
            ),
            (
                "DEFAULT_REVIEW_WINDOW_SECONDS",
                self.min_review_window_seconds
                <= self.default_review_window_seconds
                <= self.max_review_window_seconds,
                "must lie between the minimum and maximum review window",
            ),
        ]
        for suffix, ok, message in checks:
            if not ok:
                raise SettingsError(f"{PREFIX}{suffix.removesuffix('_CENTS')}: {message}")


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_int(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None


def _parse_float(raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None


def _parse_env(raw: str) -> Environment:
    if raw == "development":
        return "development"
    if raw == "production":
        return "production"
    raise ValueError(f"expected development or production, got {raw!r}")


def _parse_database_url(raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
        raise ValueError(f"unsupported database scheme {scheme!r} (sqlite:// or postgres://)")
    return raw


def _parse_broadcast_url(raw: str) -> str:
    scheme = urlparse(raw).scheme
    if scheme not in {"memory", "redis", "rediss", "postgres", "postgresql"}:
        raise ValueError(f"unsupported bus scheme {scheme!r} (memory://, redis:// or postgres://)")
    return raw


def _parse_origins(raw: str) -> tuple[str, ...]:
    # A browser's Origin never ends with a slash: "http://localhost:5173/" means the same.
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and urlparse(origin).scheme not in {"http", "https"}:
            raise ValueError(f"origin {origin!r} must be '*' or start with http:// or https://")
    return origins


def _parse_storage_url(raw: str) -> str:
    parsed = urlparse(raw)
    if parsed.scheme == "file" and (parsed.netloc or parsed.path):
        return raw
    if parsed.scheme == "s3" and parsed.netloc:
        return raw
    raise ValueError(f"expected file://DIRECTORY or s3://BUCKET/PREFIX, got {raw!r}")


def _parse_public_url(raw: str) -> str:
    parsed = urlparse(raw)
    if raw and (parsed.scheme not in {"http", "https"} or not parsed.netloc):
        raise ValueError(f"expected http(s)://HOST[:PORT], got {raw!r}")
    return raw.rstrip("/")


def _parse_cents(raw: str) -> int:
    """A money setting given as a decimal string (`"5.00"`)."""
    amount = Decimal(raw.strip())
    if amount != amount.quantize(Decimal("0.01")) or amount < 0:
        raise ValueError(f"expected a non-negative amount with at most two decimals, got {raw!r}")
    return int(amount * 100)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "env": _parse_env,
    "database_url": _parse_database_url,
    "broadcast_url": _parse_broadcast_url,
    "allowed_origins": _parse_origins,
    "storage_url": _parse_storage_url,
    "public_url": _parse_public_url,
    **{f.name: _parse_cents for f in dataclasses.fields(Settings) if f.name.endswith("_cents")},
}


def _parser_for_default(default: object) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, int):
        return _parse_int
    if isinstance(default, float):
        return _parse_float
    return str


def env_name(field_name: str) -> str:
    """`min_payout_cents` is set as `PICOTASK_MIN_PAYOUT=5.00`: money is a decimal outside."""
    return PREFIX + field_name.removesuffix("_cents").upper()


__all__ = ["Settings", "SettingsError", "env_name"]
