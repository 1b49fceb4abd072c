"""A scripted Kubernetes API server on 127.0.0.1, for tests at the HTTP seam.

Why a real socket rather than patching ``pool_manager.request``: the kubernetes client then runs
all of its own code (serialization, auth headers, urllib3, streaming reads, read timeouts,
the websocket handshake of exec), and the test sees the request exactly as a server would.

Each test scripts answers with :meth:`ApiServer.on` (method, path, and a responder); every
request is recorded (method, path, query, headers, JSON body). Bodies are built by the tests
from the client's own models (``ApiClient().sanitize_for_serialization(V1StatefulSet(...))``).
Watch answers are newline-delimited events; exec answers speak the channel protocol over a
websocket (v4.channel.k8s.io: one byte of channel, then the data).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from kubernetes.client import ApiClient

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def to_json(model: Any) -> Any:
    """A client model as the API server would send it."""
    return ApiClient().sanitize_for_serialization(model)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None


@dataclass
class Reply:
    """An answer: a JSON body, or watch events (each optionally after a pause), or exec frames."""

    status: int = 200
    body: Any = None
    events: list[tuple[float, dict[str, Any]]] | None = None
    hold: float = 0.0  # keep a watch open this long after its events, sending nothing
    frames: list[tuple[int, bytes]] | None = None  # exec: (channel, data)


Responder = Callable[[Request], Reply]


@dataclass
class ApiServer:
    routes: list[tuple[str, str, Responder]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def on(self, method: str, path: str, reply: Reply | Responder | list[Reply]) -> None:
        """Answer ``method path`` (path without query); a list is answered in turn, its last repeated."""
        if isinstance(reply, Reply):
            fixed = reply
            self.routes.append((method, path, lambda r: fixed))
        elif isinstance(reply, list):
            queue = list(reply)
            self.routes.append((method, path, lambda r: queue.pop(0) if len(queue) > 1 else queue[0]))
        else:
            self.routes.append((method, path, reply))

    def made(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, path: Path, token: str = "secret-token") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "default",
            "clusters": [{"name": "default", "cluster": {"server": self.url}}],
            "users": [{"name": "default", "user": {"token": token}}],
            "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}]}))
        return path

    def start(self) -> ApiServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                outer.requests.append(request)
                for method, path, responder in outer.routes:
                    if method == self.command and path == parts.path:
                        reply = responder(request)
                        break
                else:
                    reply = Reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "reason": "NotFound", "code": 404, "message": f"no route {parts.path}"})
                if reply.frames is not None:
                    self._websocket(reply.frames)
                elif reply.events is not None:
                    self._events(reply)
                else:
                    data = json.dumps(reply.body).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def _events(self, reply: Reply) -> None:
                # HTTP/1.0 without a length: the body ends when the server closes, as a watch does
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                assert reply.events is not None
                for pause, event in reply.events:
                    time.sleep(pause)
                    self.wfile.write(json.dumps(event).encode() + b"\n")
                    self.wfile.flush()
                time.sleep(reply.hold)

            def _websocket(self, frames: list[tuple[int, bytes]]) -> None:
                key = self.headers["Sec-WebSocket-Key"]
                accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
                self.end_headers()
                for channel, data in frames:
                    self.wfile.write(_frame(0x2, bytes([channel]) + data))
                self.wfile.write(_frame(0x8, struct.pack("!H", 1000)))  # close, normal
                self.wfile.flush()

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked server-to-client websocket frame (RFC 6455 §5.2), FIN set."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def serving() -> Iterator[ApiServer]:
    server = ApiServer().start()
    try:
        yield server
    finally:
        server.stop()


def exit_frame(code: int) -> bytes:
    """The exec error channel's Status for an exit code, as the kubelet words it."""
    if code == 0:
        return b'{"metadata":{},"status":"Success"}'
    return (b'{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error '
            b'executing command [sh -c exit ' + str(code).encode() + b'], exit code ' + str(code).encode() +
            b'","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"' +
            str(code).encode() + b'"}]}}')


class FakeWS:
    """The WSClient interface exec uses, channels given; ``stays_open``: a command that never ends."""

    def __init__(self, channels: dict[int, str], stays_open: bool = False) -> None:
        self.channels, self.stays_open, self.closed = dict(channels), stays_open, False

    def run_forever(self, timeout: float | None = None) -> None:
        pass

    def is_open(self) -> bool:
        return self.stays_open and not self.closed

    def read_stdout(self, timeout: float | None = None) -> str:
        return self.channels.pop(1, "")

    def read_stderr(self, timeout: float | None = None) -> str:
        return self.channels.pop(2, "")

    def read_channel(self, channel: int, timeout: float = 0) -> str:
        return self.channels.pop(channel, "")

    def close(self) -> None:
        self.closed = True
