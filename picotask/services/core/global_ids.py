"""The API's opaque ids, here so that what leaves by other ways (webhook bodies) names objects
as the API does; `schema/relay.py` reads them back."""

from __future__ import annotations

import base64


def global_id(type_name: str, pk: int) -> str:
    raw = f"{type_name}:{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
