"""The emulator's HTTP/1.1 server: aiohttp's low-level ``web.Server`` (keep-alive, Content-Length
or chunked request bodies, chunked streaming responses for watches) in front of the dispatcher,
which sees only the small :class:`Request`/:class:`Response`/:class:`StreamResponse` types below."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kube_emulator.errors import bad_request, unsupported_media_type

# Request lines and headers up to 1 MiB (aiohttp's default is 8 KiB): long label selectors and
# field selectors fit, as they do on a real API server.
_MAX_LINE = 1 << 20
# stop() cuts open watches at once, as a restarting API server does; handlers get this long.
_SHUTDOWN_SECONDS = 0.5


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        if "protobuf" in self.content_type or "yaml" in self.content_type:
            raise unsupported_media_type(self.content_type)
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"the request body is not valid JSON: {exc}") from None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/json")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers or {})


@dataclass
class StreamResponse:
    """A response whose body is produced chunk by chunk until `chunks` ends."""

    status: int
    chunks: AsyncGenerator[bytes, None]
    content_type: str = "application/json"


Handler = Callable[[Request], Awaitable[Response | StreamResponse]]


async def _as_request(incoming: web.BaseRequest) -> Request:
    return Request(
        incoming.method.upper(),
        incoming.path,  # percent-decoded
        dict(incoming.query),  # a repeated parameter: its first value
        {name.lower(): value for name, value in incoming.headers.items()},
        await incoming.read(),
    )


async def _stream(incoming: web.BaseRequest, response: StreamResponse) -> web.StreamResponse:
    outgoing = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
    outgoing.enable_chunked_encoding()
    try:
        await outgoing.prepare(incoming)
        async for chunk in response.chunks:
            if chunk:
                await outgoing.write(chunk)
        await outgoing.write_eof()
    except ConnectionResetError:  # the client went away mid-stream: nothing to answer
        pass
    finally:
        await response.chunks.aclose()  # unregisters the watcher even when the client went away
    return outgoing


class HttpServer:
    """Serves ``handler`` on ``host:port`` (0: a free port) until :meth:`stop`."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self._runner: web.ServerRunner | None = None

    async def _serve(self, incoming: web.BaseRequest) -> web.StreamResponse:
        response = await self._handler(await _as_request(incoming))
        if isinstance(response, StreamResponse):
            return await _stream(incoming, response)
        headers = {"Content-Type": response.content_type, **response.headers}
        return web.Response(status=response.status, body=response.body, headers=headers)

    async def start(self) -> int:
        # handler_cancellation: a watch whose client went away ends now, not at its next event.
        server = web.Server(self._serve, handler_cancellation=True, max_line_size=_MAX_LINE, max_field_size=_MAX_LINE)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=_SHUTDOWN_SECONDS)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every open connection (including watch streams)."""
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner.cleanup()
            self._runner = None
