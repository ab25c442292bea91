"""Uploads and images as the API shows them, and the links to their bytes."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.uploads import Upload, UploadPurpose, UploadStatus
from picotask.schema.context import Info
from picotask.schema.errors import UserError
from picotask.schema.relay import Node, to_global_id
from picotask.services.media.image_links import LinkSigner

strawberry.enum(UploadPurpose, name="UploadPurpose")
strawberry.enum(UploadStatus, name="UploadStatus")


def base_url(info: Info) -> str:
    """Where clients reach this server: PICOTASK_PUBLIC_URL, else the host the request (or
    websocket) came to."""
    settings = info.context.services.settings
    if settings.public_url:
        # Asked before the request: a shared (viewer-less) execution may not read it.
        return settings.public_url
    request = info.context.request
    if request is None:
        return settings.public_url
    url = request.base_url
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return str(url.replace(scheme=scheme)).rstrip("/")


def file_url(base: str, key: str, links: LinkSigner) -> tuple[str, datetime | None]:
    """Avatars are public; anything else is a short-lived signed link: (url, when it expires)."""
    if key.startswith("avatars/"):
        return f"{base}/{key}", None
    link = links.sign(key)
    return f"{base}/{key}?{link.query}", link.expires_at


@strawberry.type(
    name="Image",
    description="A stored image, re-encoded without metadata. Links to proof images are signed "
    "and expire (ask again for fresh ones); avatar links are public.",
)
class ImageType:
    id: strawberry.ID = strawberry.field(description="The upload's id.")
    url: str
    thumbnail_url: str
    width: int
    height: int
    size: int = strawberry.field(description="Bytes of the stored image.")
    content_type: str
    expires_at: datetime | None = strawberry.field(
        description="When url and thumbnailUrl stop working (ask for the image again before); "
        "null for avatars, whose links do not expire."
    )

    @classmethod
    def of(cls, upload: Upload, info: Info) -> ImageType:
        # Only received uploads are images.
        assert upload.key is not None
        assert upload.thumb_key is not None
        base, links = base_url(info), info.context.services.uploads.links
        url, expires_at = file_url(base, upload.key, links)
        thumbnail_url, _ = file_url(base, upload.thumb_key, links)  # signed at the same time
        return cls(
            id=to_global_id("Upload", upload.id),
            url=url,
            thumbnail_url=thumbnail_url,
            expires_at=expires_at,
            width=upload.width or 0,
            height=upload.height or 0,
            size=upload.size or 0,
            content_type=upload.content_type or "",
        )


@strawberry.type(name="Upload", description="An upload slot and, once its bytes are in, its image.")
class UploadType(Node):
    purpose: UploadPurpose
    status: UploadStatus
    content_type: str = strawberry.field(
        description="As declared until the bytes are in; then the type they decoded as."
    )
    size: int = strawberry.field(description="As declared; then the stored image's bytes.")
    expires_at: datetime | None = strawberry.field(
        description="PENDING: send the bytes before; READY: use it before, or it is removed."
    )
    created_at: datetime
    model: strawberry.Private[Upload]

    @strawberry.field(description="The image, once received.")
    def image(self, info: Info) -> ImageType | None:
        return ImageType.of(self.model, info) if self.model.key else None

    @classmethod
    def from_model(cls, upload: Upload) -> UploadType:
        return cls(
            id=to_global_id("Upload", upload.id),
            purpose=upload.purpose,
            status=upload.status,
            content_type=upload.content_type or upload.declared_type,
            size=upload.size or upload.declared_size,
            expires_at=upload.expires_at,
            created_at=upload.created_at,
            model=upload,
        )


@strawberry.input
class CreateUploadInput:
    purpose: UploadPurpose
    content_type: str = strawberry.field(description="image/png, image/jpeg or image/webp.")
    size: int = strawberry.field(description="Bytes of the file; at most this many are taken.")


@strawberry.type
class CreateUploadPayload:
    upload: UploadType | None = None
    upload_url: str | None = strawberry.field(
        default=None,
        description="PUT the file's bytes here (no other header needed) before "
        "upload.expiresAt; the answer is the upload as JSON, or userErrors.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
