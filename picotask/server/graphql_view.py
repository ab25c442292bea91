"""GraphQL over HTTP and websockets: context, authentication, and the HTTP media types."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from picotask.schema.context import Context
from picotask.server.direct import Cohorts
from picotask.server.logs import USER_ID
from picotask.server.persisted import PersistedQueries, PersistedQueryError
from picotask.server.request_id import request_id_of
from picotask.server.sockets import Sockets
from picotask.server.ws_handler import SocketHandler
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


def retry_after(result: ExecutionResult) -> int | None:
    """When every error is RATE_LIMITED and nothing was answered (the whole request was
    refused, by the cost budget or a throttle), the seconds to wait for all of it."""
    errors = result.errors or []
    waits = [(e.extensions or {}).get("retryAfterSeconds") for e in errors]
    if not errors or not all(
        isinstance(w, int) and (e.extensions or {}).get("code") == "RATE_LIMITED"
        for e, w in zip(errors, waits, strict=True)
    ):
        return None
    if result.data is not None and any(v is not None for v in result.data.values()):
        return None
    return max(w for w in waits if isinstance(w, int))


class TooDeep(json.JSONDecodeError):
    """JSON nested beyond the limit: refused before anything walks it."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON must not be nested deeper than {max_depth} levels", "", 0)


def _depth_exceeds(value: object, max_depth: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


class GraphQLView(GraphQL[Context, None]):
    # Sockets counted, closed when their session ends, operations authorized one by one.
    graphql_transport_ws_handler_class = SocketHandler

    def __init__(self, schema: Schema, services: Services, bus: EventBus) -> None:
        settings = services.settings
        super().__init__(
            schema,
            graphql_ide=None if settings.is_production else "graphiql",
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            allowed_origins=settings.allowed_origins,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        )
        self.services = services
        self.bus = bus
        # Automatic persisted queries over HTTP: a hash instead of the text (server/persisted.py).
        self.persisted = PersistedQueries(settings)
        self.sockets = Sockets(settings, services.clock, bus)
        # Live events of grouped subscriptions, written straight to the sockets.
        self.cohorts = Cohorts(bus.groups, schema)

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
        # Read once: the bearer token is not kept for as long as the socket lives.
        context.connection_params = None
        if "authorization" in params:
            await self._authenticate(context, params["authorization"])
            if context.viewer is None or context.session is None:
                raise ConnectionRejectionError()
            self.sockets.bind(context, context.viewer, context.session)
        return None

    async def _authenticate(self, context: Context, header: Any) -> None:
        token = bearer_token(header)
        found = await self.services.users.authenticate(token) if token else None
        if found is None:
            context.bad_credentials = True
            return
        context.viewer, context.session = found
        # In this request's task, and a websocket's operations started after it.
        USER_ID.set(context.viewer.id)

    # GraphQL-over-HTTP: answer in `application/graphql-response+json` when the client accepts
    # it, and with 400 for request errors, so a malformed document is never a 200 or a 500.

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # The new media type for clients that name it; `application/json` for the rest, as the
        # GraphQL-over-HTTP spec asks for no Accept header and for `*/*`.
        if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
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
        if (wait := retry_after(result)) is not None:
            # Rate limiting is HTTP's business for every client, legacy JSON ones too.
            request.state.sub_response.status_code = 429
            request.state.sub_response.headers["Retry-After"] = str(wait)
        return data

    async def execute_single(  # strawberry's own signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Queries and mutations over HTTP (mutations by POST only); subscriptions are served
        over the websocket, and asking for one over HTTP is a clear request error."""
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        try:
            query = await self.persisted.query_for(request_data.query, request_data.extensions)
        except PersistedQueryError as e:
            return PreExecutionError(data=None, errors=[e.error])
        try:
            return await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            message = (
                "Subscriptions are served over the websocket on /graphql "
                "(graphql-transport-ws), not over HTTP."
                if e.operation_type == OperationType.SUBSCRIPTION
                else f"{e.as_http_error_reason(request_adapter.method)}; use POST."
            )
            return PreExecutionError(data=None, errors=[GraphQLError(message)])
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    def encode_json(self, data: object) -> str:
        """Responses (and websocket messages: text frames, so a str) as orjson writes them:
        the same JSON in a twentieth of the time json.dumps takes (bench/http.py)."""
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON that comes in, over HTTP and websockets: nested no deeper than the limit
        (a websocket message that is not closes the socket with 4400). Its text is checked
        where both transports meet, before execution (`safety.CleanInput`)."""
        limit = self.services.settings.max_json_depth
        try:
            value = json.loads(data)
        except RecursionError:
            raise TooDeep(limit) from None
        if _depth_exceeds(value, limit + 1):  # + 1: the body object around the variables
            raise TooDeep(limit)
        return value

    def parse_json(self, data: str | bytes) -> Any:
        """JSON bodies and GET variables: an object (or a batch)."""
        try:
            value = self.decode_json(data)
        except TooDeep as e:
            raise HTTPException(400, f"{e.msg}.") from None
        except json.JSONDecodeError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
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
