"""GET /openrpc.json and GET /docs: the API description over plain HTTP.

Neither needs a session: they describe the API and reveal no data. The HTML page is rendered
once per method table, like the document it is rendered from.
"""

from __future__ import annotations

from aiohttp import web

from rpc_fulfillment.jsonrpc.dispatch import api_document, api_document_json
from rpc_fulfillment.jsonrpc.docs.page import render_docs

DOCS_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    # The page is self-contained: no scripts, no external assets, only its inline style.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

_rendered: dict[str, object] = {}


def docs_html() -> bytes:
    document = api_document()
    if _rendered.get("document") is not document:
        _rendered.update(document=document, html=render_docs(document).encode("utf-8"))
    return _rendered["html"]  # type: ignore[return-value]


async def handle_openrpc(request: web.Request) -> web.Response:
    return web.Response(body=api_document_json(), headers={"Content-Type": "application/json"})


async def handle_docs(request: web.Request) -> web.Response:
    return web.Response(body=docs_html(), headers=DOCS_HEADERS)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openrpc.json", handle_openrpc)
    app.router.add_get("/docs", handle_docs)
