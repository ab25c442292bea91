"""S3-compatible object storage (AWS S3, MinIO, Ceph, R2, ...), for several instances.

boto3, the reference S3 client, runs in worker threads (its clients are thread-safe), so a
slow bucket never blocks the event loop. `PICOTASK_STORAGE_URL=s3://BUCKET/PREFIX`; the
endpoint, region and keys come from the S3_* settings, or, left empty, from boto3's own
configuration (environment, shared files, instance roles). The bucket must exist and should
not be public: every object is read through this server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from picotask.services.media.storage import checked_key
from picotask.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DELETE_BATCH = 1_000  # the most one DeleteObjects request takes


class S3Storage:
    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        url = urlparse(settings.storage_url)
        options: dict[str, Any] = {
            "config": Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # A custom endpoint (MinIO, a test server) is addressed by path, not by a
                # bucket subdomain that only AWS resolves.
                s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            )
        }
        for option, value in (
            ("endpoint_url", settings.s3_endpoint_url),
            ("region_name", settings.s3_region),
            ("aws_access_key_id", settings.s3_access_key_id),
            ("aws_secret_access_key", settings.s3_secret_access_key),
        ):
            if value:
                options[option] = value
        client = boto3.session.Session().client("s3", **options)
        return cls(client, url.netloc, url.path)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._name(key),
            Body=data,
            ContentType=content_type,
        )

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._name(key))

    async def delete(self, keys: Sequence[str]) -> None:
        names = [self._name(key) for key in keys]
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            await asyncio.to_thread(
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in batch], "Quiet": True},
            )

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)

    def _name(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def _read(self, name: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        with response["Body"] as body:
            return body.read()
