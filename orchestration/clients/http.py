"""The retrying HTTP layer both API clients share: the one retry loop of the project.

One small loop instead of `urllib3.util.Retry`, because what is worth retrying differs per API and is not
only a status code: Linear signals rate limits inside a GraphQL body on HTTP 400, and a 200 whose JSON is
cut off is as transient as a 503. Each client passes a `check` that reads a response and either returns
the parsed body, raises `Transient` (ask again later) or raises an `ApiError` (permanent).

Before each attempt the client's `Budget` (budget.py), when it has one, reserves the request (its cost: a
GraphQL query's complexity) and waits for budget if it is short, or raises `BudgetExhausted`; after each
answer it learns from the answer. A refusal the budget explains (it now sees the bucket empty) is not
backed off blindly: the next attempt's reservation waits exactly as long as the budget needs.

A request that is not idempotent (a POST that creates) also passes `recover`: after a failure that may
have taken effect on the server it is asked first, and the request is sent again only when it finds
nothing (see `RetryingHttp.request`).
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dagster as dg
import requests

try:  # a dependency of dagster-dbt
    import orjson
except ImportError:  # pragma: no cover
    orjson = None

from orchestration.clients.budget import Budget
from orchestration.clients.errors import ApiError, ConnectionFailed, RetriesExhausted
from orchestration.settings import ApiSettings

# Dagster's builtin logger: retries show up in the run's event log, and it is a plain `logging`
# logger (propagating to the root) outside Dagster.
logger = dg.get_dagster_logger(__name__)

T = TypeVar("T")

# Longest single backoff wait; Retry-After hints from the server are honoured even when longer.
BACKOFF_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class Service:
    """What error messages need to know about an API."""

    name: str  # "Clockify"
    status_page: str
    # The settings that raise the retry budget (orchestration/resources.py reads them).
    retry_seconds_setting: str = "API_MAX_RETRY_SECONDS"
    attempts_setting: str = "API_MAX_ATTEMPTS"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = ApiSettings.max_attempts
    max_retry_seconds: float = ApiSettings.max_retry_seconds  # total wall time across attempts and waits
    backoff_base: float = ApiSettings.backoff_base
    backoff_cap: float = BACKOFF_CAP_SECONDS


class Transient(Exception):
    """Raised by a response check: the answer is transient, ask again after a while.

    `refused`: the server turned the request down before acting on it (a rate limit), so even a request
    that is not idempotent may simply be sent again.
    """

    def __init__(self, reason: str, retry_after: float | None = None, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.refused = refused


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    base: float = 0.5,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the `attempt`-th failed attempt (1-based).

    The server's own hint wins: retrying before Retry-After only earns another 429. Otherwise exponential
    backoff with full jitter (a uniform draw in [0, min(cap, base * 2^(attempt-1))]), which spreads
    concurrent clients apart instead of having them retry in lockstep.
    """
    if retry_after is not None:
        return max(0.0, float(retry_after))
    return rng() * min(cap, base * 2 ** max(0, attempt - 1))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: either delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def json_body(response: requests.Response) -> Any:
    """The response's JSON body; ValueError when it is not JSON."""
    if orjson is not None:
        try:  # several times faster on 1,000-entry report pages; anything it refuses goes to `json`
            return orjson.loads(response.content)
        except ValueError:
            pass
    return response.json()


def parse_json(response: requests.Response) -> Any:
    """The response's JSON body; a cut-off or garbled body is treated as transient."""
    try:
        return json_body(response)
    except ValueError as exc:  # requests' JSONDecodeError subclasses ValueError
        raise Transient(f"invalid JSON body on HTTP {response.status_code}") from exc


def is_transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def redact(text: str, *secrets: str) -> str:
    """Belt and braces for server-supplied text we quote in errors: servers sometimes echo credentials."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def describe_exception(exc: requests.RequestException, read_timeout: float) -> tuple[str, bool]:
    """A short reason for logs and errors, and whether the host looks unreachable (vs. flaky)."""
    text = str(exc).lower()
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout", True
    if isinstance(exc, requests.exceptions.Timeout):
        return f"read timeout after {read_timeout:g} s", False
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "truncated response", False
    if "refused" in text:
        return "connection refused", True
    if "name resolution" in text or "name or service not known" in text or "nodename nor servname" in text:
        return "host name not found", True
    if "reset" in text or "aborted" in text or "remotedisconnected" in text:
        return "connection reset", False
    return f"connection error ({type(exc).__name__})", False


class RetryingHttp:
    """A `requests.Session` plus the retry loop, for one client instance.

    `sleep`, `clock` and `rng` are injectable so tests can run the loop without waiting. `budget` paces
    the requests (see the module docstring).
    """

    def __init__(
        self,
        service: Service,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
        policy: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        budget: Budget | None = None,
    ) -> None:
        self.service = service
        self.budget = budget
        self.policy = policy
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.requests_made = 0
        self._count_lock = threading.Lock()  # pages may be fetched from several threads
        self._sleep, self._clock, self._rng = sleep, clock, rng

    def __repr__(self) -> str:  # never show the session's headers (they hold the key)
        return f"RetryingHttp(service={self.service.name!r})"

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        check: Callable[[requests.Response], T],
        url_setting: str,
        recover: Callable[[], T | None] | None = None,
        what: str = "",
        cost: float = 1.0,
        budget_reserve: float = 0.0,
        budget_patient: bool = True,
        **kwargs: Any,
    ) -> T:
        """Send until `check` accepts the answer, a permanent error is raised or the budget runs out.

        `url_setting` names the setting that holds this URL's base (e.g. CLOCKIFY_API_URL) so an
        unreachable host can be reported as a configuration problem.

        `recover` is for a request that is not idempotent. After a failure that may have taken effect (a
        5xx, a read timeout or reset, a cut body; not a refusal such as a 429, nor a connection that never
        opened) it is called before anything is resent, and what it returns, unless None, is the answer
        (e.g. the object a lost POST created). `what` names the request's effect in the error when the
        budget runs out (the quoted name of what a create makes). `cost` is what the request takes from
        the budget (complexity points for Linear; 1 otherwise); `budget_reserve` and `budget_patient` are
        `Budget.acquire`'s `reserve` and `patient` (a low-priority read).
        """
        policy, name = self.policy, self.service.name
        started = self._clock()
        path = urlsplit(url).path
        attempt = 0
        budget_waits = 0.0  # waiting for budget is pacing, not part of the retry budget
        while True:
            attempt += 1
            unreachable = False
            response = None
            if self.budget is not None:
                budget_waits += self.budget.acquire(  # BudgetExhausted: nothing sent, not retried
                    cost, reserve=budget_reserve, patient=budget_patient
                )
            try:
                with self._count_lock:
                    self.requests_made += 1
                # Not streamed: the body is read (and the connection released) before `check` runs.
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
                if self.budget is not None:
                    self.budget.observe(response)
                return check(response)
            except Transient as transient:
                reason, retry_after, maybe_applied = transient.reason, transient.retry_after, not transient.refused
                if (
                    transient.refused
                    and retry_after is None
                    and self.budget is not None
                    and self.budget.explains(response, cost)
                ):
                    retry_after = 0.0  # the next reservation waits as long as the budget needs
            except requests.RequestException as exc:
                reason, unreachable = describe_exception(exc, self.timeout[1])
                retry_after, maybe_applied = None, not unreachable

            if recover is not None and maybe_applied:
                found = recover()
                if found is not None:
                    logger.warning("%s %s %s: %s, but %s exists now; using it", name, method, path, reason, what)
                    return found
            elapsed = self._clock() - started - budget_waits
            delay = backoff_delay(attempt, retry_after, policy.backoff_base, policy.backoff_cap, self._rng)
            if attempt >= policy.max_attempts or elapsed + delay > policy.max_retry_seconds:
                if recover is not None:
                    # Nothing half-done to report: the last recover() found nothing, so nothing was made.
                    raise RetriesExhausted(
                        f"{name} {method} {path} ({what}) still failing after {attempt} attempts over "
                        f"{elapsed:.0f} s (last: {reason}); nothing named {what} was created. Check "
                        f"{self.service.status_page} or retry later.",
                        service=name,
                    )
                raise self._exhausted(attempt, elapsed, reason, retry_after, unreachable, url, url_setting)
            logger.warning(
                "%s %s %s: %s; retrying in %.1f s (attempt %d of %d)",
                name, method, path, reason, delay, attempt, policy.max_attempts,
            )  # fmt: skip
            self._sleep(delay)

    def _exhausted(
        self,
        attempts: int,
        elapsed: float,
        reason: str,
        retry_after: float | None,
        unreachable: bool,
        url: str,
        url_setting: str,
    ) -> ApiError:
        name = self.service.name
        if unreachable:
            parts = urlsplit(url)
            return ConnectionFailed(
                f"Could not reach {name} at {parts.scheme}://{parts.netloc} after {attempts} attempts over "
                f"{elapsed:.0f} s ({reason}): check {url_setting} and the network.",
                service=name,
            )
        if attempts >= self.policy.max_attempts:
            knob = self.service.attempts_setting
        else:
            knob = self.service.retry_seconds_setting
        hint = f", server asked to wait {retry_after:.0f} s more" if retry_after is not None else ""
        return RetriesExhausted(
            f"{name} API still failing after {attempts} attempts over {elapsed:.0f} s (last: {reason}{hint}). "
            f"Check {self.service.status_page} or retry later; raise {knob} to wait longer.",
            service=name,
        )


class Pacer:
    """Spaces calls at least 1/rate seconds apart, across threads (requests sent concurrently)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            time.sleep(at - now)
