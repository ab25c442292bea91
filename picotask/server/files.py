"""Image bytes over plain HTTP, beside GraphQL:

- `PUT /uploads/<upload id>?token=<token>`: the bytes of an upload slot (from `createUpload`).
  The token in the URL is the authority, as in an S3 presigned URL. PUT is never a "simple"
  request, so a browser on another site must ask first (a CORS preflight), which only the
  allowed origins pass (`ALLOWED_ORIGINS`, `cors` in server/app.py): no cross-site form can
  post here, and no page of an origin not allowed can send the bytes.
- `GET /proofs/<name>?expires=..&signature=..`: a proof image by its signed, expiring link.
- `GET /avatars/<name>`: avatars, public.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from picotask.models.uploads import Upload
from picotask.schema.relay import pk_of, to_global_id
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.media.storage import is_key, media_type
from picotask.services.registry import Services

_STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_STATUS: 409,
    ErrorCode.DEADLINE_PASSED: 410,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_IMAGE: 415,
}
# Served bytes are images and nothing else: no sniffing them into HTML, no scripts.
_SAFE = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"}


class Files:
    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[Route]:
        return [
            Route("/uploads/{upload_id}", self.put_upload, methods=["PUT"]),
            Route("/proofs/{name}", self.get_proof, methods=["GET"]),
            Route("/avatars/{name}", self.get_avatar, methods=["GET"]),
        ]

    async def put_upload(self, request: Request) -> Response:
        uploads = self.services.uploads
        try:
            slot = await uploads.slot(
                pk_of(request.path_params["upload_id"], "Upload"),
                request.query_params.get("token", ""),
            )
            data = await _body(request, slot.declared_size)
            upload = await uploads.receive(slot, data)
        except DomainError as e:
            problems = [
                {"field": p.field, "message": p.message, "code": p.code.value} for p in e.problems
            ]
            status = _STATUS.get(e.problems[0].code, 422)
            return JSONResponse({"upload": None, "userErrors": problems}, status_code=status)
        return JSONResponse({"upload": _described(upload), "userErrors": []})

    async def get_proof(self, request: Request) -> Response:
        key = f"proofs/{request.path_params['name']}"
        query = request.query_params
        valid = is_key(key) and self.services.uploads.links.verify(
            key, query.get("expires", ""), query.get("signature", "")
        )
        if not valid:
            return Response("This link is not valid, or it expired.", 403, media_type="text/plain")
        age = int(query["expires"]) - int(self.services.clock.now().timestamp())
        return await self._serve(key, f"private, max-age={max(age, 0)}")

    async def get_avatar(self, request: Request) -> Response:
        key = f"avatars/{request.path_params['name']}"
        if not is_key(key):
            return _not_found()
        # Keys are random and never reused: what is there now is there for good.
        return await self._serve(key, "public, max-age=31536000, immutable")

    async def _serve(self, key: str, cache: str) -> Response:
        data = await self.services.uploads.read(key)
        if data is None:
            return _not_found()
        headers = {**_SAFE, "Cache-Control": cache}
        return Response(data, media_type=media_type(key), headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is longer than the slot was opened for."""
    declared = request.headers.get("content-length", "")
    too_large = DomainError(
        ErrorCode.TOO_LARGE, f"The slot was opened for at most {limit} bytes.", ["body"]
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        chunks.append(chunk)
    if not received:
        raise DomainError(ErrorCode.UNSUPPORTED_IMAGE, "The body is empty.", ["body"])
    return b"".join(chunks)


def upload_refusal(path: str, limit: int) -> tuple[bytes, bytes]:
    """The 413 of a body over the uploads route's absolute limit (server/request_id.py): the
    JSON with userErrors that every other refused PUT answers."""
    problem = {"field": ["body"], "message": f"At most {limit} bytes.", "code": "TOO_LARGE"}
    return b"application/json", orjson.dumps({"upload": None, "userErrors": [problem]})


def _described(upload: Upload) -> dict[str, Any]:
    return {
        "id": to_global_id("Upload", upload.id),
        "purpose": upload.purpose.value,
        "status": upload.status.value,
        "contentType": upload.content_type,
        "width": upload.width,
        "height": upload.height,
        "size": upload.size,
        "expiresAt": _iso(upload.expires_at) if upload.expires_at else None,
    }


def _iso(value: datetime) -> str:
    """As the API's DateTime: ISO-8601 in UTC with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _not_found() -> Response:
    return Response("Not found.", 404, media_type="text/plain")
