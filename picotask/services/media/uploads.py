"""Image uploads in two steps, as a browser app or curl does them: `create` opens a slot
(purpose, type, size) and returns the one token that lets the bytes in; `receive` takes the
bytes (PUT /uploads/<id>?token=...), checks and cleans them, and stores the image. The
upload's id is then used once: as a proof image (`proof_images.py`) or an avatar
(`upload_use.py`).

An upload never used is removed by the sweeper when its time is up (`sweep`), and so are
proof images of tasks closed longer than the retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from tortoise.expressions import Q, Subquery

from picotask.models.submissions import Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.uploads import ImageMatch, Upload, UploadPurpose, UploadStatus
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Validator
from picotask.services.core.standing import ensure_active
from picotask.services.media.image_links import LinkSigner
from picotask.services.media.images import CONTENT_TYPES, THUMBNAIL_TYPE, ImageLimits, clean_image
from picotask.services.media.storage import Storage
from picotask.services.media.upload_use import slot_expired
from picotask.settings import Settings

_SWEEP_BATCH = 500
_PREFIX = {UploadPurpose.PROOF_IMAGE: "proofs", UploadPurpose.AVATAR: "avatars"}
UNUSED = (UploadStatus.PENDING, UploadStatus.READY)
SLOT_REMEMBERED = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class NewUpload:
    upload: Upload
    token: str  # given once, in the upload URL; only its hash is kept


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def final_submissions() -> Q:
    """Submissions nothing can reopen: no review, revision or dispute will need their proof."""
    return Q(
        status__in=[SubmissionStatus.APPROVED, SubmissionStatus.RETURNED, SubmissionStatus.EXPIRED]
    ) | Q(status=SubmissionStatus.REJECTED, rejection_final=True)


class UploadService:
    def __init__(
        self, settings: Settings, clock: Clock, storage: Storage, links: LinkSigner
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.storage = storage
        self.links = links
        # Decoding is CPU and memory: a few images at once per instance, the rest wait.
        self._decoding = asyncio.Semaphore(settings.image_workers)

    async def create(
        self, user: User, purpose: UploadPurpose, content_type: str, size: int
    ) -> NewUpload:
        ensure_active(user)
        v = Validator()
        if content_type.strip().lower() not in CONTENT_TYPES:
            v.add(
                "contentType",
                ErrorCode.UNSUPPORTED_IMAGE,
                "Only PNG, JPEG and WebP images are accepted (image/png, image/jpeg, image/webp).",
            )
        if not 0 < size <= self.settings.max_image_bytes:
            v.add(
                "size",
                ErrorCode.TOO_LARGE if size > 0 else ErrorCode.OUT_OF_RANGE,
                f"size must be 1 to {self.settings.max_image_bytes} bytes.",
            )
        v.check()
        now = self.clock.now()
        waiting = await Upload.filter(
            owner_id=user.id, status__in=UNUSED, expires_at__gt=now
        ).count()
        if waiting >= self.settings.max_pending_uploads_per_user:
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"You have {waiting} uploads not used yet; use them or wait until they expire.",
                ["input"],
            )
        token = secrets.token_urlsafe(32)
        upload = await Upload.create(
            owner_id=user.id,
            purpose=purpose,
            token_hash=token_hash(token),
            declared_type=content_type.strip().lower(),
            declared_size=size,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.upload_slot_seconds),
        )
        return NewUpload(upload, token)

    async def slot(self, upload_id: int | None, token: str) -> Upload:
        """The open slot this token unlocks; checked before the bytes are read."""
        upload = await Upload.get_or_none(id=upload_id) if upload_id else None
        if upload is None or not hmac.compare_digest(
            upload.token_hash.encode(), token_hash(token).encode()
        ):
            raise DomainError(ErrorCode.NOT_FOUND, "No such upload slot (or a wrong token).")
        if upload.status != UploadStatus.PENDING or upload.key is not None:
            raise _has_bytes()
        if upload.expires_at is None or upload.expires_at <= self.clock.now():
            raise slot_expired()
        return upload

    async def receive(self, upload: Upload, data: bytes) -> Upload:
        """Check, clean and store the bytes of an open slot (from `slot`). Nothing is kept
        when they are refused; the slot stays open for another try until it expires."""
        if len(data) > upload.declared_size:
            raise DomainError(
                ErrorCode.TOO_LARGE,
                f"The slot was opened for {upload.declared_size} bytes; {len(data)} came.",
                ["body"],
            )
        proof = upload.purpose == UploadPurpose.PROOF_IMAGE
        limits = ImageLimits(
            max_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_image_pixels,
            thumbnail_pixels=self.settings.thumbnail_pixels,
            fit_pixels=None if proof else self.settings.avatar_pixels,
        )
        async with self._decoding:
            image = await asyncio.to_thread(clean_image, data, limits, fingerprint=proof)
        name = f"{_PREFIX[upload.purpose]}/{secrets.token_urlsafe(18)}"
        key, thumb_key = f"{name}.{image.extension}", f"{name}.thumb.webp"
        # The keys are claimed in the row before the objects are written, so an object is
        # never without a row that leads the sweeper to it (a crash, a lost race, a late PUT).
        pending = Upload.filter(id=upload.id, status=UploadStatus.PENDING)
        if not await pending.filter(key=None, expires_at__gt=self.clock.now()).update(
            key=key, thumb_key=thumb_key
        ):
            raise await _why_not_open(upload.id)
        try:
            await self.storage.put(key, image.data, image.content_type)
            await self.storage.put(thumb_key, image.thumbnail, THUMBNAIL_TYPE)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.storage.delete([key, thumb_key])
                # Gone: the slot takes a retry. Not gone: the row keeps the keys, for the
                # sweeper to remove them when the slot expires.
                await pending.filter(key=key).update(key=None, thumb_key=None)
            raise
        if not await pending.filter(key=key).update(
            status=UploadStatus.READY,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            size=len(image.data),
            fingerprints=image.fingerprints,
            expires_at=upload.created_at + timedelta(seconds=self.settings.upload_unused_seconds),
        ):  # a sweeper took the slot as it expired meanwhile: its objects go with it
            await self.storage.delete([key, thumb_key])
            raise slot_expired()
        return await Upload.get(id=upload.id)

    async def read(self, key: str) -> bytes | None:
        return await self.storage.get(key)

    async def sweep(self) -> int:
        """Remove unused uploads whose time is up and proof images past their retention;
        returns how many. Safe in several processes: a row is claimed (DELETING) by a
        conditional update before its objects go, and attaching needs READY."""
        now = self.clock.now()
        # A slot never sent holds no bytes: it is kept a while after it expires, so a PUT that
        # comes late hears that it expired rather than that there is no such slot.
        await Upload.filter(
            Q(status=UploadStatus.READY, expires_at__lte=now)
            | Q(status=UploadStatus.PENDING, expires_at__lte=now - SLOT_REMEMBERED)
        ).update(status=UploadStatus.DELETING)
        closed = Task.filter(
            closed_at__lte=now - timedelta(seconds=self.settings.image_retention_seconds)
        ).values("id")
        done = Submission.filter(final_submissions(), task_id__in=Subquery(closed)).values("id")
        await Upload.filter(
            status=UploadStatus.ATTACHED,
            purpose=UploadPurpose.PROOF_IMAGE,
            submission_id__in=Subquery(done),
        ).update(status=UploadStatus.DELETING)
        doomed = (
            await Upload.filter(status=UploadStatus.DELETING)
            .order_by("id")
            .limit(_SWEEP_BATCH)
            .values("id", "key", "thumb_key")
        )
        if not doomed:
            return 0
        await self.storage.delete(
            [k for row in doomed for k in (row["key"], row["thumb_key"]) if k]
        )
        ids = [row["id"] for row in doomed]
        await ImageMatch.filter(Q(image_id__in=ids) | Q(other_image_id__in=ids)).delete()
        await Upload.filter(id__in=ids, status=UploadStatus.DELETING).delete()
        return len(ids)


async def _why_not_open(upload_id: int) -> DomainError:
    current = await Upload.get(id=upload_id)
    if current.status == UploadStatus.PENDING and current.key is None:
        return slot_expired()
    return _has_bytes()


def _has_bytes() -> DomainError:
    return DomainError(ErrorCode.INVALID_STATUS, "This upload has (or is receiving) its bytes.")
