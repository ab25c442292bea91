"""Short-lived signed links to private images, as S3's presigned URLs: `/images/<key>?
expires=<unix time>&signature=<HMAC-SHA256 of key and expiry>`. Whoever may see a proof gets
its links with the submission; nobody can make one for another key or a later time, so
knowing (or guessing) a key is worth nothing. Avatars are public and need no link."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from picotask.services.core.clock import Clock

log = logging.getLogger(__name__)
# Expiries are rounded down to a step, so asking twice within it gives the same link (the
# browser's cache keeps working): a tenth of the lifetime, at most a minute. A link lives at
# most `ttl` seconds (IMAGE_LINK_SECONDS) and more than `ttl - step`.
_MAX_STEP = 60


@dataclass(frozen=True, slots=True)
class SignedLink:
    key: str
    expires: int
    signature: str

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)

    @property
    def query(self) -> str:
        return f"expires={self.expires}&signature={self.signature}"


class LinkSigner:
    def __init__(
        self, secret: str, clock: Clock, ttl_seconds: int, *, production: bool = False
    ) -> None:
        if not secret:
            log.log(
                logging.WARNING if production else logging.INFO,
                "PICOTASK_SIGNING_SECRET is not set: image links are signed with a random "
                "secret of this process (set one shared secret on every instance)",
            )
        self._secret = secret.encode() if secret else secrets.token_bytes(32)
        self.clock = clock
        self.ttl = ttl_seconds
        self.step = max(1, min(_MAX_STEP, ttl_seconds // 10))

    def sign(self, key: str) -> SignedLink:
        now = int(self.clock.now().timestamp())
        expires = (now + self.ttl) // self.step * self.step
        return SignedLink(key, expires, self._signature(key, expires))

    def verify(self, key: str, expires: str, signature: str) -> bool:
        """A link made by `sign` (with this secret) that has not expired yet."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        when = int(expires)
        if when <= self.clock.now().timestamp():
            return False
        return hmac.compare_digest(self._signature(key, when).encode(), signature.encode())

    def _signature(self, key: str, expires: int) -> str:
        message = f"image\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
