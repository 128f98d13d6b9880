"""The sandbox HTTP server: one ThreadingHTTPServer on 127.0.0.1 serving

- ``/api/v1/...``  Clockify main API          (counted as ``clockify``)
- ``/v1/...``      Clockify reports API       (counted as ``clockify_reports``)
- ``/graphql``     Linear GraphQL API         (counted as ``linear``)
- ``/health``      liveness, not counted

Order of processing for a counted request: count -> ``latency_ms`` -> injected fault -> auth ->
rate limit (when ``enforce_rate_limits``) -> handler.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlsplit

from . import clockify, linear
from .config import SandboxConfig
from .data import Workspace, generate_workspace
from .faults import Fault, FaultInjector

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

CLOCKIFY_PREFIX = "/api/v1"
REPORTS_PREFIX = "/v1"


def _api_for(path: str) -> Optional[str]:
    if path == CLOCKIFY_PREFIX or path.startswith(CLOCKIFY_PREFIX + "/"):
        return "clockify"
    if path.startswith(REPORTS_PREFIX + "/"):
        return "clockify_reports"
    if path == "/graphql" or path == "/graphql/":
        return "linear"
    return None


class _SlidingWindow:
    """Counts requests per key in a sliding window."""

    def __init__(self, limit: int, window_s: float):
        self.limit, self.window = limit, window_s
        self.hits: dict[str, collections.deque] = {}
        self.lock = threading.Lock()

    def hit(self, key: str, now: float, count: bool = True) -> tuple[bool, int, float]:
        """-> (allowed, remaining, reset epoch seconds)."""
        with self.lock:
            q = self.hits.setdefault(key, collections.deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            allowed = len(q) < self.limit
            if allowed and count:
                q.append(now)
            reset = (q[0] + self.window) if q else now + self.window
            return allowed, max(0, self.limit - len(q)), reset


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, sandbox: "Sandbox"):
        self.sandbox = sandbox
        self.open_sockets: set = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self.sockets_lock:
            socks = list(self.open_sockets)
            self.open_sockets.clear()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are dropped after a minute

    def setup(self) -> None:
        super().setup()
        try:  # answers go out in one write; no Nagle/delayed-ACK stalls on keep-alive connections
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - no per-request logging
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: Any, headers: Optional[dict] = None, fault: Optional[Fault] = None) -> None:
        data = body if isinstance(body, (bytes, bytearray)) else _dumps(body).encode("utf-8")
        if fault is not None and fault.kind == "truncated" and fault.mode == "cut":
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        incomplete = fault is not None and fault.kind == "truncated" and fault.mode == "incomplete"
        # headers and body in a single write
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(data[: len(data) // 2] if incomplete else data)
        self.flush_headers()
        if incomplete:
            self._abort(rst=False)

    def _abort(self, rst: bool) -> None:
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        sb: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        path, query = url.path, url.query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        api = _api_for(path)
        if api is None:
            if path in ("/", "/health"):
                self._send(200, {"status": "ok", "apis": ["clockify", "clockify_reports", "linear"], "env": sb.env()})
            else:
                self._send(404, {"message": f"No route for {path}", "code": 404})
            return
        sb._count(api)
        if sb.latency_ms:
            time.sleep(sb.latency_ms / 1000.0)
        fault = sb.faults.take(api, path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
                fault = None
            elif fault.kind == "reset":
                self._abort(rst=True)
                return
            elif fault.kind != "truncated":
                self._send_fault(api, fault)
                return
        try:
            if api == "linear":
                status, out, headers = sb._handle_linear(self.headers, body)
            else:
                status, out, headers = sb._handle_clockify(api, method, path, query, self.headers, body)
        except Exception as e:  # a bug in the sandbox must still answer something sensible
            status, headers = 500, {}
            out = (
                {"errors": [{"message": f"sandbox error: {e!r}", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}
                if api == "linear"
                else {"message": f"sandbox error: {e!r}", "code": 500}
            )
        self._send(status, out, headers, fault)

    def _send_fault(self, api: str, fault: Fault) -> None:
        headers: dict = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = (
                int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after
            )
        kind = fault.kind
        if kind.startswith("ratelimited_"):
            status = 400 if kind == "ratelimited_400" else 429
            sb: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
            headers.update(sb._linear_limit_headers(remaining=0))
            self._send(
                status,
                linear.error_body(
                    "Rate limit exceeded", "RATELIMITED", userPresentableMessage="You have exceeded the API rate limit."
                ),
                headers,
            )
            return
        status = int(kind)
        messages = {
            429: "Too many requests",
            500: "Internal server error",
            502: "Bad gateway",
            503: "Service unavailable",
        }
        if api == "linear":
            code = {429: "RATELIMITED", 500: "INTERNAL_SERVER_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE"}[
                status
            ]
            body = linear.error_body(messages[status], code)
        else:
            body = {"message": messages[status], "code": status}
        self._send(status, body, headers)


class Sandbox:
    """A running (or runnable) sandbox: dataset + HTTP server + fault injector.

    ``with Sandbox(cfg) as sb: ...`` or ``sb = Sandbox(cfg).start(); ...; sb.stop()``.
    """

    def __init__(
        self,
        config: Optional[SandboxConfig] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        workspace: Optional[Workspace] = None,
    ):
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        self.workspace: Workspace = workspace if workspace is not None else generate_workspace(self.config)
        self.workspace.entry_index()  # build the bisect index now, not on the first request
        self.faults = FaultInjector(seed=self.config.seed)
        self.latency_ms = self.config.latency_ms
        self.enforce_rate_limits = self.config.enforce_rate_limits
        self._counts = {"clockify": 0, "clockify_reports": 0, "linear": 0}
        self._counts_lock = threading.Lock()
        self._clockify_limiter = _SlidingWindow(self.config.clockify_rate_per_second, 1.0)
        self._linear_limiter = _SlidingWindow(self.config.linear_requests_per_hour, 3600.0)
        self._linear_complexity_limit = 3_000_000
        self._linear_complexity_used: collections.deque = collections.deque()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Sandbox":
        if self._server is not None:
            return self
        # build Linear's schema (~1.5 s, once per process) in the background meanwhile
        threading.Thread(target=linear.get_schema, name="sandbox-schema", daemon=True).start()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.close_all()
        srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ public helpers
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        base = self.base_url
        return {
            "CLOCKIFY_API_URL": f"{base}{CLOCKIFY_PREFIX}",
            "CLOCKIFY_REPORTS_URL": f"{base}{REPORTS_PREFIX}",
            "LINEAR_API_URL": f"{base}/graphql",
            "CLOCKIFY_API_KEY": self.config.clockify_api_key,
            "LINEAR_API_KEY": self.config.linear_api_key,
            "CLOCKIFY_WORKSPACE_ID": self.workspace.workspace_id,
        }

    def request_counts(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            for k in self._counts:
                self._counts[k] = 0

    def _count(self, api: str) -> None:
        with self._counts_lock:
            self._counts[api] += 1

    # ------------------------------------------------------------------ Clockify
    def _handle_clockify(self, api: str, method: str, path: str, query: str, headers, body: bytes):
        if headers.get("X-Api-Key") != self.config.clockify_api_key:
            return 401, clockify.UNAUTHORIZED, {}
        if self.enforce_rate_limits:
            allowed, _rem, _reset = self._clockify_limiter.hit(self.config.clockify_api_key, time.monotonic())
            if not allowed:
                return 429, {"message": "Too many requests", "code": 429}, {}
        if api == "clockify":
            resp = clockify.handle_main(self.workspace, method, path[len(CLOCKIFY_PREFIX) :], query, body)
        else:
            resp = clockify.handle_reports(self.workspace, method, path[len(REPORTS_PREFIX) :], query, body)
        return resp.status, resp.body, resp.headers

    # ------------------------------------------------------------------ Linear
    def _linear_limit_headers(
        self, remaining: Optional[int] = None, reset: Optional[float] = None, complexity: Optional[float] = None
    ) -> dict:
        now = time.time()
        if remaining is None or reset is None:
            _ok, rem, rst = self._linear_limiter.hit(self.config.linear_api_key, time.monotonic(), count=False)
            remaining = rem if remaining is None else remaining
            reset = (rst - time.monotonic() + now) if reset is None else reset
        with self._counts_lock:
            used = sum(c for _t, c in self._linear_complexity_used)
        h = {
            "x-ratelimit-requests-limit": self.config.linear_requests_per_hour,
            "x-ratelimit-requests-remaining": remaining,
            "x-ratelimit-requests-reset": int(reset * 1000),
            "x-ratelimit-complexity-limit": self._linear_complexity_limit,
            "x-ratelimit-complexity-remaining": max(0, int(self._linear_complexity_limit - used)),
            "x-ratelimit-complexity-reset": int(reset * 1000),
        }
        if complexity is not None:
            h["x-complexity"] = int(round(complexity))
        return h

    def _handle_linear(self, headers, body: bytes):
        auth = (headers.get("Authorization") or "").strip()
        if auth.lower().startswith("bearer "):
            auth = auth[7:].strip()
        if auth != self.config.linear_api_key:
            return (
                400,
                linear.error_body(
                    "Authentication required, not authenticated",
                    "AUTHENTICATION_ERROR",
                    userPresentableMessage="You need to authenticate to access this operation.",
                ),
                {},
            )
        mono, now = time.monotonic(), time.time()
        allowed, remaining, reset = self._linear_limiter.hit(self.config.linear_api_key, mono, count=True)
        reset_epoch = reset - mono + now
        if self.enforce_rate_limits and not allowed:
            return (
                400,
                linear.error_body(
                    "Rate limit exceeded", "RATELIMITED", userPresentableMessage="You have exceeded the API rate limit."
                ),
                self._linear_limit_headers(remaining=0, reset=reset_epoch),
            )
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return (
                400,
                linear.error_body("Malformed JSON body", "BAD_USER_INPUT"),
                self._linear_limit_headers(remaining, reset_epoch),
            )
        status, out, complexity = linear.execute_request(self.workspace, payload)
        with self._counts_lock:
            self._linear_complexity_used.append((mono, complexity))
            while self._linear_complexity_used and self._linear_complexity_used[0][0] <= mono - 3600:
                self._linear_complexity_used.popleft()
        return status, out, self._linear_limit_headers(remaining, reset_epoch, complexity)
