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
from picotask.services.accounts.sessions import Client
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
        """The client's network address: the peer's, or the one a trusted proxy forwarded
        (`PICOTASK_TRUSTED_PROXIES`, applied by uvicorn: server/cli.py `serving`)."""
        client = self.request.client if self.request is not None else None
        return client.host if client is not None else "unknown"

    @property
    def user_agent(self) -> str | None:
        """The User-Agent header of the request (of a websocket: of its upgrade request)."""
        return self.request.headers.get("user-agent") if self.request is not None else None

    @property
    def client(self) -> Client:
        """Who is asking, as a session opened now keeps it."""
        return Client.of(self.client_address, self.user_agent)


class SubscriberNeeded(Exception):
    """A resolver asked a shared execution for what only one subscriber has."""


class SharedContext(Context):
    """The context of one execution shared by every subscriber of an operation (server/fanout.py):
    no viewer, no session, no connection. Everything a resolver may learn of its subscriber is
    read through this class's accessors (`viewer`, `require_viewer`, `session`, `request`,
    `response`, `connection_params`, `bad_credentials`, `client_address`, `user_agent`,
    `client`); here each one marks the execution as depending on its subscriber (`asked`) and
    raises, so the execution's result is thrown away and run again per subscriber, each with
    their own context. What is safe to share is therefore decided by what the resolvers really
    ask for, not by a list of fields."""

    __slots__ = ("asked",)

    def __init__(self, services: Services, bus: EventBus, request_id: str) -> None:
        self.asked: str | None = None
        super().__init__(services=services, bus=bus, request_id=request_id)

    def _refuse(self, what: str) -> None:
        self.asked = self.asked or what
        raise SubscriberNeeded(f"{what} is per subscriber")

    # Properties in place of Context's slots; each setter accepts only the defaults
    # Context's own __init__ assigns.

    @property
    def viewer(self) -> User | None:
        self._refuse("viewer")
        return None

    @viewer.setter
    def viewer(self, value: User | None) -> None:
        assert value is None, "a shared execution has no viewer"

    @property
    def session(self) -> Session | None:
        self._refuse("session")
        return None

    @session.setter
    def session(self, value: Session | None) -> None:
        assert value is None, "a shared execution has no session"

    @property
    def request(self) -> Request | WebSocket | None:
        self._refuse("request")
        return None

    @request.setter
    def request(self, value: Request | WebSocket | None) -> None:
        assert value is None, "a shared execution has no connection"

    @property
    def response(self) -> Response | WebSocket | None:
        self._refuse("response")
        return None

    @response.setter
    def response(self, value: Response | WebSocket | None) -> None:
        assert value is None, "a shared execution has no connection"

    @property
    def connection_params(self) -> dict[str, Any] | None:
        self._refuse("connection_params")
        return None

    @connection_params.setter
    def connection_params(self, value: dict[str, Any] | None) -> None:
        assert value is None, "a shared execution has no connection"

    @property
    def bad_credentials(self) -> bool:
        self._refuse("bad_credentials")
        return False

    @bad_credentials.setter
    def bad_credentials(self, value: bool) -> None:
        assert not value, "a shared execution has no credentials"


Info: TypeAlias = strawberry.Info[Context, None]
