"""Where image bytes live: a directory on this machine, or S3-compatible object storage for
several instances (`storage_s3.py`), chosen by one setting (`PICOTASK_STORAGE_URL`).

Keys are made by the upload service only (`proofs/<random>.png`, `avatars/<random>.webp`,
and `.thumb.webp` beside each); every storage refuses any other shape of key, so no key can
name a path outside its root.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from picotask.settings import Settings

KEY = re.compile(r"^(proofs|avatars)/[A-Za-z0-9_-]{16,64}(\.thumb)?\.(png|jpg|webp)$")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None:
        """The object's bytes; None if there is no such object."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the objects; a key already gone is not an error."""
        ...

    async def close(self) -> None: ...


def is_key(key: str) -> bool:
    return bool(KEY.match(key))


def media_type(key: str) -> str:
    return MEDIA_TYPES[key.rsplit(".", 1)[-1]]


def checked_key(key: str) -> str:
    if not is_key(key):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files under one directory (`var/uploads` by default); writes are atomic renames."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._read, self._path(key))

    async def delete(self, keys: Sequence[str]) -> None:
        await asyncio.to_thread(self._remove, [self._path(key) for key in keys])

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        partial.write_bytes(data)
        os.replace(partial, path)

    @staticmethod
    def _remove(paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None


def open_storage(settings: Settings) -> Storage:
    url = settings.storage_url
    if url.startswith("s3://"):
        from picotask.services.media.storage_s3 import S3Storage  # boto3 only where it is used

        return S3Storage.from_settings(settings)
    return LocalStorage(url.removeprefix("file://"))
