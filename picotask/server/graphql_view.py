"""GraphQL over HTTP and websockets: context, authentication, and the HTTP media types."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UnsetType

from picotask.schema.context import Context
from picotask.server.request_id import request_id_of
from picotask.services.registry import Services
from picotask.subscriptions.bus import EventBus

GRAPHQL_RESPONSE = "application/graphql-response+json"


def bearer_token(value: object) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None if malformed."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def is_request_error(result: ExecutionResult) -> bool:
    """Errors before execution: parse and validation (PreExecutionError) or variable coercion
    (no data, and no error has a path, as every field error has)."""
    if isinstance(result, PreExecutionError):
        return True
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def _clean_text(value: object) -> bool:
    """No NUL (PostgreSQL refuses it) and no lone surrogate (no encoder accepts it)."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_clean_text(k) and _clean_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_clean_text(v) for v in value)
    return True


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, services: Services, bus: EventBus) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
        )
        self.services = services
        self.bus = bus

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            services=self.services,
            bus=self.bus,
            request_id=request_id_of(request.scope),
            request=request,
            response=response,
        )
        if isinstance(request, Request) and "authorization" in request.headers:
            await self._authenticate(context, request.headers["authorization"])
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Auth from the `connection_init` payload; a bad token closes the socket with 4403."""
        params = context.connection_params or {}
        if "authorization" in params:
            await self._authenticate(context, params["authorization"])
            if context.viewer is None:
                raise ConnectionRejectionError()
        return None

    async def _authenticate(self, context: Context, header: Any) -> None:
        token = bearer_token(header)
        found = await self.services.users.authenticate(token) if token else None
        if found is None:
            context.bad_credentials = True
            return
        context.viewer, context.session = found

    # GraphQL-over-HTTP: answer in `application/graphql-response+json` when the client accepts
    # it, and with 400 for request errors, so a malformed document is never a 200 or a 500.

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept", "")
        # Legacy `application/json` only for clients that ask for it and not for the new type.
        if GRAPHQL_RESPONSE in accept or "application/json" not in accept:
            sub_response.media_type = GRAPHQL_RESPONSE
        request.state.sub_response = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        if is_request_error(result):
            # The request never executed (unparsable document, invalid variables): no `data`.
            data.pop("data", None)
            # Legacy application/json clients get 200 with the errors, as the spec asks.
            if request.state.sub_response.media_type == GRAPHQL_RESPONSE:
                request.state.sub_response.status_code = 400
        return data

    def parse_json(self, data: str | bytes) -> Any:
        """JSON bodies and GET variables: an object (or batch), of text a database can store."""
        value = super().parse_json(data)
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        if not _clean_text(value):
            raise HTTPException(400, "Strings must be valid Unicode without NUL characters.")
        return value

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = GRAPHQL_RESPONSE
        return response
