"""`POST /unsubscribe?token=<token>`: the one-click unsubscribe of RFC 8058, beside GraphQL.

Each notification mail names this URL in `List-Unsubscribe`, with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`: a mail client POSTs to it (body
`List-Unsubscribe=One-Click`), with no session and no cookie; the token is the authority and
names the user and the kind of mail. A GET of the same path is the web app's page
(web/src/notifications.tsx), which asks before it calls the `unsubscribe` mutation: link
scanners that fetch every URL of a mail unsubscribe nobody.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from picotask.services.core.errors import DomainError
from picotask.services.registry import Services


class Unsubscribe:
    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[Route]:
        return [Route("/unsubscribe", self.post, methods=["POST"])]

    async def post(self, request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            done = await self.services.notifications.unsubscribe(token, ["token"])
        except DomainError as e:
            problems = [
                {"field": p.field, "message": p.message, "code": p.code.value} for p in e.problems
            ]
            return JSONResponse({"errors": problems}, status_code=400)
        return JSONResponse({"unsubscribed": done.kind.value})
