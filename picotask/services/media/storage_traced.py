"""A storage whose every call is a CLIENT span, when tracing is on (README, "Tracing").

S3's spans are named and described as OpenTelemetry's AWS SDK conventions name them
(`S3.PutObject`, `rpc.system` aws-api, the bucket and the object's key: random, never a
user's input); a local directory's as `FileStorage.put`. Built only with a tracer
(services/registry.py), so a server without tracing calls the storage directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.trace import Tracer
from opentelemetry.util.types import AttributeValue

from picotask.services.core.tracing import client_span
from picotask.services.media.storage import Storage
from picotask.services.media.storage_s3 import S3Storage

_S3_METHODS = {"put": "PutObject", "get": "GetObject", "delete": "DeleteObjects"}


class TracedStorage:
    def __init__(self, inner: Storage, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer

    def _span(self, call: str, key: str | None) -> tuple[str, dict[str, AttributeValue]]:
        inner = self.inner
        if isinstance(inner, S3Storage):
            method = _S3_METHODS[call]
            attributes: dict[str, AttributeValue] = {
                "rpc.system": "aws-api",
                "rpc.service": "S3",
                "rpc.method": method,
                "aws.s3.bucket": inner.bucket,
            }
            if key is not None:
                attributes["aws.s3.key"] = inner.prefix + key
            return f"S3.{method}", attributes
        return f"FileStorage.{call}", {} if key is None else {"picotask.storage.key": key}

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        name, attributes = self._span("put", key)
        with client_span(self.tracer, name, attributes):
            await self.inner.put(key, data, content_type)

    async def get(self, key: str) -> bytes | None:
        name, attributes = self._span("get", key)
        with client_span(self.tracer, name, attributes) as span:
            data = await self.inner.get(key)
            if span is not None:
                span.set_attribute("picotask.storage.found", data is not None)
            return data

    async def delete(self, keys: Sequence[str]) -> None:
        name, attributes = self._span("delete", None)
        attributes["picotask.storage.keys"] = len(keys)
        with client_span(self.tracer, name, attributes):
            await self.inner.delete(keys)

    async def close(self) -> None:
        await self.inner.close()
