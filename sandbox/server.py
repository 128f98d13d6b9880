"""The sandbox HTTP server: one ThreadingHTTPServer on 127.0.0.1 serving

- ``/api/v1/...``            Clockify main API, global host      (counted as ``clockify``)
- ``/v1/...``                Clockify reports API, global host   (counted as ``clockify_reports``)
- ``/<host>/api/v1/...``     Clockify main API on a regional or subdomain host
                             (``https://<host>.clockify.me/api/v1``; counted as ``clockify``)
- ``/<host>/report/v1/...``  its reports API (``report``, singular, same host; ``clockify_reports``)
- ``/graphql``               Linear GraphQL API                  (counted as ``linear``)
- ``/_sandbox/clock``        the sandbox clock (GET state, POST advance/sleep/set), not counted
- ``/health``                liveness, not counted

A workspace with ``clockify_region`` / ``clockify_subdomain`` answers only on its own host. On the other
hosts (the global one included) a request answers as Clockify does for a key or workspace on the wrong
host (``clockify_wrong_host``): "workspace_not_found" (regions' default): the key is accepted,
``GET /workspaces`` lists nothing and every workspace path answers 403 Access Denied, as an unknown
workspace does; "key_unknown" (subdomains' default): 401 ``Api key does not exist`` code 4003.

Budgets, on the sandbox clock (sandbox/clock.py):

- Clockify, paid plan: 50 requests/s per key, both hosts (when ``enforce_rate_limits``). Free plan
  (``clockify_plan="FREE"``, always enforced): 30 requests/hour for the whole workspace, both hosts.
  Excess: 429 ``{"message": "Too many requests", "code": 429}``, no Retry-After or reset header.
- Linear, per user (one key here): 5,000 requests/hour and 250,000 complexity points/hour, token
  buckets refilled continuously; headers ``x-ratelimit-requests-limit|remaining|reset`` and
  ``x-ratelimit-complexity-limit|remaining|reset`` (reset: epoch ms when the bucket is full again)
  and ``x-complexity`` on every authenticated answer. Over budget (when ``enforce_rate_limits``):
  HTTP ``linear_ratelimit_status`` (400 or 429) with ``RATELIMITED``; a refused request costs nothing.

Order of processing for a counted request: count -> ``latency_ms`` -> injected fault -> auth ->
rate limit -> handler.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

from . import clockify, linear
from .clock import Clock
from .config import SandboxConfig
from .data import Workspace, generate_workspace
from .faults import Fault, FaultInjector
from .limits import SlidingWindow, TokenBucket

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

CLOCKIFY_PREFIX = "/api/v1"
REPORTS_PREFIX = "/v1"
REGIONAL_REPORTS_PREFIX = "/report/v1"
ADMIN_CLOCK = "/_sandbox/clock"
_HOSTED = re.compile(r"^/([a-z0-9][a-z0-9-]*)(/api/v1|/report/v1)(/.*)?$")


def _route(path: str) -> Optional[tuple[str, Optional[str], str]]:
    """(api, host or None for the global hosts, path below the API prefix) or None."""
    if path == CLOCKIFY_PREFIX or path.startswith(CLOCKIFY_PREFIX + "/"):
        return "clockify", None, path[len(CLOCKIFY_PREFIX) :]
    if path.startswith(REPORTS_PREFIX + "/"):
        return "clockify_reports", None, path[len(REPORTS_PREFIX) :]
    if path == "/graphql" or path == "/graphql/":
        return "linear", None, ""
    m = _HOSTED.match(path)
    if m:
        api = "clockify" if m.group(2) == CLOCKIFY_PREFIX else "clockify_reports"
        return api, m.group(1), m.group(3) or ""
    return None


_ID_SEGMENT = re.compile(r"^[0-9a-f]{24}$|^[0-9a-f-]{36}$")


def _endpoint(path: str, query: str) -> str:
    """A request's endpoint for the per-endpoint counts: ids as {id}, the query's parameter names."""
    template = "/".join("{id}" if _ID_SEGMENT.match(seg) else seg for seg in path.split("/"))
    params = []
    for name, value in sorted(parse_qsl(query, keep_blank_values=True)):
        item = f"{name}={value}" if value in ("true", "false") else name
        if item not in params:
            params.append(item)
    return template + ("?" + "&".join(params) if params else "")


def _api_for(path: str) -> Optional[str]:
    r = _route(path)
    return r[0] if r else None


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
        route = _route(path)
        if route is None:
            if path in ("/", "/health"):
                self._send(200, {"status": "ok", "apis": ["clockify", "clockify_reports", "linear"], "env": sb.env()})
            elif path == ADMIN_CLOCK:
                self._send(*sb._handle_clock(method, body))
            else:
                self._send(404, {"message": f"No static resource {path.lstrip('/')}.", "code": 3000})
            return
        api, host, rest = route
        sb._count(api, method, rest, query)
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
                status, out, headers = sb._handle_clockify(api, host, method, rest, query, self.headers, body)
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
            headers.update(sb._linear_limit_headers(exhausted=True))
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
    """A running (or runnable) sandbox: dataset + HTTP server + fault injector + clock.

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
        wc = self.workspace.clock
        self.clock: Clock = wc if isinstance(wc, Clock) else Clock.from_config(self.config)
        self.faults = FaultInjector(seed=self.config.seed)
        self.latency_ms = self.config.latency_ms
        self.enforce_rate_limits = self.config.enforce_rate_limits
        self._counts = {"clockify": 0, "clockify_reports": 0, "linear": 0}
        self._endpoint_counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        now = self.clock.time
        self._clockify_per_key = SlidingWindow(self.config.clockify_rate_per_second, 1.0, now)
        self._clockify_free = SlidingWindow(self.config.clockify_free_requests_per_hour, 3600.0, now)
        self._linear_requests = TokenBucket(self.config.linear_requests_per_hour, 3600.0, now)
        self._linear_complexity = TokenBucket(self.config.linear_complexity_per_hour, 3600.0, now)
        self._linear_lock = threading.Lock()
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

    def clockify_base(self, host: Optional[str]) -> str:
        """The stand-in for ``https://<host>.clockify.me`` (a region such as euc1, or a subdomain)."""
        return f"{self.base_url}/{host}"

    def clockify_urls(self, host: Optional[str] = "auto") -> dict[str, str]:
        """CLOCKIFY_API_URL / CLOCKIFY_REPORTS_URL of a host: "auto" (default) where the workspace lives,
        None or "global" the global hosts, else that region or subdomain (a wrong host, unless it is
        the workspace's)."""
        if host == "auto":
            host = self.config.clockify_host
        if host in (None, "global"):
            return {
                "CLOCKIFY_API_URL": f"{self.base_url}{CLOCKIFY_PREFIX}",
                "CLOCKIFY_REPORTS_URL": f"{self.base_url}{REPORTS_PREFIX}",
            }
        base = self.clockify_base(host)
        return {
            "CLOCKIFY_API_URL": f"{base}{CLOCKIFY_PREFIX}",
            "CLOCKIFY_REPORTS_URL": f"{base}{REGIONAL_REPORTS_PREFIX}",
        }

    def env(self, clockify_host: Optional[str] = "auto") -> dict[str, str]:
        """The pipeline's environment for this sandbox. The Clockify URLs point where the workspace
        lives; ``clockify_host="global"`` (or another region) gives a wrong-host setup to test errors."""
        return {
            **self.clockify_urls(clockify_host),
            "LINEAR_API_URL": f"{self.base_url}/graphql",
            "CLOCKIFY_API_KEY": self.config.clockify_api_key,
            "LINEAR_API_KEY": self.config.linear_api_key,
            "CLOCKIFY_WORKSPACE_ID": self.workspace.workspace_id,
        }

    def request_counts(self) -> dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def endpoint_counts(self) -> dict[str, int]:
        """Requests per endpoint: ``"<api> <METHOD> <path>"``, ids in the path as ``{id}``, then the query's
        parameter names (with the value where it is true/false), e.g.
        ``clockify GET /workspaces/{id}/projects/{id}/tasks?is-active=false&page&page-size``."""
        with self._counts_lock:
            return dict(self._endpoint_counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            for k in self._counts:
                self._counts[k] = 0
            self._endpoint_counts.clear()

    def _count(self, api: str, method: str = "GET", path: str = "", query: str = "") -> None:
        key = f"{api} {method} {_endpoint(path, query)}"
        with self._counts_lock:
            self._counts[api] += 1
            self._endpoint_counts[key] = self._endpoint_counts.get(key, 0) + 1

    # ------------------------------------------------------------------ clock (admin, not counted)
    def _handle_clock(self, method: str, body: bytes) -> tuple[int, dict]:
        if method == "GET":
            return 200, self.clock.state()
        if method != "POST":
            return 405, {"message": f"Request method '{method}' is not supported", "code": 405}
        try:
            req = json.loads(body or b"{}")
            if not isinstance(req, dict) or len(req) != 1:
                raise ValueError("send one of {'advance': s}, {'sleep': s}, {'set': iso}")
            ((op, value),) = req.items()
            if op == "advance":
                self.clock.advance(float(value))
            elif op == "sleep":
                self.clock.sleep(float(value))
            elif op == "set":
                self.clock.set(value)
            else:
                raise ValueError(f"unknown clock operation {op!r}; use advance, sleep or set")
        except (ValueError, TypeError) as e:
            return 400, {"message": str(e), "code": 400}
        return 200, self.clock.state()

    # ------------------------------------------------------------------ Clockify
    def _handle_clockify(self, api: str, host: Optional[str], method: str, path: str, query: str, headers, body: bytes):
        cfg = self.config
        key = headers.get("X-Api-Key")
        if not key:
            return 401, dict(clockify.UNAUTHORIZED), {}
        here = host == cfg.clockify_host
        if key != cfg.clockify_api_key or (not here and cfg.wrong_host_answer == "key_unknown"):
            return 401, dict(clockify.KEY_UNKNOWN), {}
        if self.enforce_rate_limits and not self._clockify_per_key.hit(key):
            return 429, {"message": "Too many requests", "code": 429}, {}
        if cfg.clockify_plan == "FREE" and not self._clockify_free.hit(self.workspace.workspace_id):
            return 429, {"message": "Too many requests", "code": 429}, {}
        if api == "clockify":
            resp = clockify.handle_main(self.workspace, method, path, query, body, workspace_here=here)
        else:
            resp = clockify.handle_reports(self.workspace, method, path, query, body, workspace_here=here)
        return resp.status, resp.body, resp.headers

    # ------------------------------------------------------------------ Linear
    def _linear_limit_headers(self, exhausted: bool = False, complexity: Optional[float] = None) -> dict:
        """The budget headers; ``exhausted`` (an injected RATELIMITED fault) reports an empty request
        bucket, consistently: remaining 0, full again one period from now."""
        h = {
            **self._linear_requests.headers("x-ratelimit-requests"),
            **self._linear_complexity.headers("x-ratelimit-complexity"),
        }
        if exhausted:
            h["x-ratelimit-requests-remaining"] = 0
            h["x-ratelimit-requests-reset"] = int((self.clock.time() + 3600.0) * 1000)
        if complexity is not None:
            h["x-complexity"] = int(round(complexity))
        return h

    def _handle_linear(self, headers, body: bytes):
        cfg = self.config
        auth = (headers.get("Authorization") or "").strip()
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if bearer is not None and bearer == cfg.linear_api_key:
            return (
                400,
                linear.error_body(
                    "It looks like you're trying to use an API key as a Bearer token. Remove the Bearer prefix "
                    "from the Authorization header: send the personal API key as is.",
                    "AUTHENTICATION_ERROR",
                    userPresentableMessage="Personal API keys are sent without the Bearer prefix.",
                ),
                {},
            )
        ok = auth == cfg.linear_api_key or (
            bearer is not None and cfg.linear_oauth_token and bearer == cfg.linear_oauth_token
        )
        if not ok:
            return (
                400,
                linear.error_body(
                    "Authentication required, not authenticated",
                    "AUTHENTICATION_ERROR",
                    userPresentableMessage="You need to authenticate to access this operation.",
                ),
                {},
            )
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return 400, linear.error_body("Malformed JSON body", "BAD_USER_INPUT"), self._linear_limit_headers()
        ws = self.workspace
        ws.purge_trashed()
        prepared = linear.prepare(ws, payload)
        cost = prepared.complexity if isinstance(prepared, linear.Prepared) else 0.0
        with self._linear_lock:  # both buckets at once, or neither
            enforce = self.enforce_rate_limits
            if enforce and (self._linear_requests.remaining() < 1 or self._linear_complexity.remaining() < cost):
                limited = True
            else:
                limited = False
                self._linear_requests.take(1, force=True)
                self._linear_complexity.take(cost, force=True)
        if limited:
            return (
                cfg.linear_ratelimit_status,
                linear.error_body(
                    "Rate limit exceeded",
                    "RATELIMITED",
                    userPresentableMessage="You have exceeded the API rate limit.",
                    complexity=int(round(cost)),
                ),
                self._linear_limit_headers(complexity=cost),
            )
        if not isinstance(prepared, linear.Prepared):
            status, out, complexity = prepared
        else:
            status, out, complexity = linear.run(ws, prepared)
        return status, out, self._linear_limit_headers(complexity=complexity)
