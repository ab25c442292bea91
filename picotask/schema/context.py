"""The per-request (or per-websocket-connection) context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from picotask.models.users import Session, User
from picotask.schema.errors import Unauthenticated
from picotask.schema.loaders import Loaders
from picotask.services.registry import Services
from picotask.subscriptions.bus import EventBus


@dataclass(slots=True)
class Context:
    services: Services
    bus: EventBus
    request_id: str
    request: Request | WebSocket | None = None
    response: Response | WebSocket | None = None
    viewer: User | None = None
    session: Session | None = None
    # Credentials were sent but are bad or expired (as opposed to none sent).
    bad_credentials: bool = False
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(default_factory=Loaders)

    def require_viewer(self) -> User:
        if self.viewer is None:
            raise Unauthenticated(
                "Your session is invalid or expired."
                if self.bad_credentials
                else "Authentication required."
            )
        return self.viewer

    @property
    def client_address(self) -> str:
        """The client's network address, as uvicorn saw it (behind a proxy, run uvicorn with
        `--forwarded-allow-ips` so it is the client's and not the proxy's)."""
        client = self.request.client if self.request is not None else None
        return client.host if client is not None else "unknown"


Info: TypeAlias = strawberry.Info[Context, None]
