"""Uploads: open a slot for an image; the bytes go to the upload URL (server/files.py)."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.relay import Node
from picotask.schema.uploads import CreateUploadInput, CreateUploadPayload, UploadType, base_url


async def upload_node(info: Info, pk: int) -> Node | None:
    """The owner's only: an upload is nobody else's business until it is used."""
    viewer = info.context.viewer
    upload = await info.context.loaders.upload_by_id.load(pk) if viewer else None
    if upload is None or viewer is None or upload.owner_id != viewer.id:
        return None
    return UploadType.from_model(upload)


@strawberry.type
class UploadsMutation:
    @strawberry.mutation(
        description="Open an upload slot for a proof image or an avatar; PUT the bytes to "
        "uploadUrl, then give the upload's id to submitProof (uploadIds) or updateProfile "
        "(avatarUploadId)."
    )
    async def create_upload(self, info: Info, input: CreateUploadInput) -> CreateUploadPayload:
        viewer = info.context.require_viewer()
        created = await info.context.services.uploads.create(
            viewer, input.purpose, input.content_type, input.size
        )
        upload = UploadType.from_model(created.upload)
        return CreateUploadPayload(
            upload=upload,
            upload_url=f"{base_url(info)}/uploads/{upload.id}?token={created.token}",
        )
