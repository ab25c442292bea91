"""The reference web app (`web/`, built by Vite into `web/dist`), served beside the API.

Its hashed assets are cached for good; `index.html` is revalidated every time, and answers
every other GET path that names no file, so the app's own routes (`/tasks/<id>`) load it too.
A missing file with an extension (`/favicon.ico`, an old asset) is a plain 404, not HTML.
Without a build (or with an empty directory setting) there are no routes at all: `/` answers
as it did before the app existed.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

_IMMUTABLE = "public, max-age=31536000, immutable"


class WebApp:
    def __init__(self, directory: str) -> None:
        self.enabled = bool(directory)
        self.directory = Path(directory).resolve()
        self.index = self.directory / "index.html"

    def routes(self) -> list[BaseRoute]:
        if not (self.enabled and self.index.is_file()):
            return []
        return [Route("/{path:path}", self.page, methods=["GET", "HEAD"])]

    async def page(self, request: Request) -> Response:
        name: str = request.path_params["path"]
        headers = {"x-content-type-options": "nosniff"}
        if name:
            candidate = (self.directory / name).resolve()
            if candidate.is_relative_to(self.directory) and candidate.is_file():
                cache = _IMMUTABLE if name.startswith("assets/") else "no-cache"
                return FileResponse(candidate, headers={**headers, "cache-control": cache})
            if "." in name.rsplit("/", 1)[-1]:
                return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(self.index, headers={**headers, "cache-control": "no-cache"})
