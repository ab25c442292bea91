"""Using an upload: once, by its owner, for its purpose, before it expires. Proof images are
used by `proof_images.py`; avatars here, as part of a profile change (`users.py`)."""

from __future__ import annotations

from datetime import datetime

from picotask.models.uploads import Upload, UploadPurpose, UploadStatus
from picotask.models.users import User
from picotask.services.core.errors import DomainError, ErrorCode

AVATAR_FIELD = ["input", "avatarUploadId"]


async def checked_avatar(owner_id: int, upload_id: int, now: datetime) -> Upload:
    upload = await Upload.get_or_none(id=upload_id) if upload_id else None
    field = AVATAR_FIELD
    if upload is None or upload.owner_id != owner_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such upload.", field)
    if upload.purpose != UploadPurpose.AVATAR:
        raise DomainError(ErrorCode.INVALID, "This upload is not an avatar.", field)
    ensure_usable(upload, now, field, already_here=False)
    return upload


def ensure_usable(upload: Upload, now: datetime, field: list[str], *, already_here: bool) -> None:
    """Raise why an upload of the right owner and purpose cannot be used now, if it cannot.
    `already_here`: it is attached where it is being used again (a revision keeping an
    image), which is fine."""
    if upload.status == UploadStatus.PENDING:
        if upload.expires_at is not None and upload.expires_at <= now:
            raise slot_expired(field)
        raise DomainError(
            ErrorCode.INVALID_STATUS, "The image of this upload has not been sent yet.", field
        )
    if upload.status == UploadStatus.ATTACHED and not already_here:
        raise DomainError(ErrorCode.DUPLICATE, "This upload is already used.", field)
    if upload.status == UploadStatus.DELETING or (
        upload.status == UploadStatus.READY
        and upload.expires_at is not None
        and upload.expires_at <= now
    ):
        raise DomainError(
            ErrorCode.DEADLINE_PASSED, "This upload expired; upload the image again.", field
        )


async def attach_avatar(user_id: int, upload: Upload, now: datetime) -> None:
    """Make the upload the user's avatar (the old one is removed by the sweeper)."""
    if not await Upload.filter(id=upload.id, status=UploadStatus.READY, expires_at__gt=now).update(
        status=UploadStatus.ATTACHED, expires_at=None
    ):
        raise DomainError(ErrorCode.DUPLICATE, "This upload is already used.", AVATAR_FIELD)
    await drop_avatar(user_id, keep=upload.id)
    await User.filter(id=user_id).update(avatar_key=upload.key, avatar_url=None)


async def drop_avatar(user_id: int, keep: int | None = None) -> None:
    await (
        Upload.filter(owner_id=user_id, purpose=UploadPurpose.AVATAR, status=UploadStatus.ATTACHED)
        .exclude(id=keep or 0)
        .update(status=UploadStatus.DELETING)
    )


def slot_expired(field: list[str] | None = None) -> DomainError:
    return DomainError(
        ErrorCode.DEADLINE_PASSED, "The upload slot expired; create a new upload.", field
    )
