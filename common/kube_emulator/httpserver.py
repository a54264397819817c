"""A small HTTP/1.1 server on asyncio streams: keep-alive, Content-Length or chunked bodies,
and chunked streaming responses (for watches). Enough for urllib3, aiohttp and Go clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from kube_emulator.errors import bad_request, unsupported_media_type

_MAX_LINE = 1 << 20


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


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


class HttpServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, limit=_MAX_LINE, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every open connection (including watch streams)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request, keep_alive = await self._read_request(reader)
                if request is None:
                    break
                response = await self._handler(request)
                if isinstance(response, StreamResponse):
                    await self._stream(writer, response, keep_alive)
                else:
                    self._write(writer, response, keep_alive)
                    await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[Request | None, bool]:
        line = await reader.readline()
        if not line.strip():
            return None, False
        method, target, version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            header_line = await reader.readline()
            if header_line in (b"\r\n", b"\n", b""):
                break
            name, _, value = header_line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await HttpServer._read_chunked(reader)
        else:
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version.strip() == "HTTP/1.1" or connection == "keep-alive")
        split = urlsplit(target)
        request = Request(method.upper(), unquote(split.path), dict(parse_qsl(split.query)), headers, body)
        return request, keep_alive

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    @staticmethod
    def _write(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
        head = [_status_line(response.status)]
        head.append(f"Content-Type: {response.content_type}\r\nContent-Length: {len(response.body)}\r\n".encode())
        for name, value in response.headers.items():
            head.append(f"{name}: {value}\r\n".encode())
        if not keep_alive:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        writer.write(b"".join(head) + response.body)

    @staticmethod
    async def _stream(writer: asyncio.StreamWriter, response: StreamResponse, keep_alive: bool) -> None:
        head = (
            _status_line(response.status)
            + (
                f"Content-Type: {response.content_type}\r\nTransfer-Encoding: chunked\r\n"
                f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n"
            ).encode()
        )
        try:
            writer.write(head)
            await writer.drain()
            async for chunk in response.chunks:
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            await response.chunks.aclose()  # unregisters the watcher even when the client went away
