"""Errors raised by the API clients.

Every message is one line that names the service and what to do about it. Messages never contain an API
key or request headers: they end up in Dagster run logs, alerts and CI output.
"""

from __future__ import annotations


class ApiError(RuntimeError):
    """An API call failed and will not succeed by retrying it now."""

    def __init__(self, message: str, *, service: str = "", status: int | None = None) -> None:
        # One line, whatever the server sent us: multi-line messages break log-based alerting.
        super().__init__(" ".join(message.split()))
        self.service = service
        self.status = status


class AuthenticationError(ApiError):
    """The API key was rejected (missing, revoked or mistyped)."""


class ConfigurationError(ApiError):
    """A setting is wrong for this account, e.g. a workspace id the key cannot see."""


class FeatureNotAccessible(ApiError):
    """The plan lacks a feature (Linear `FEATURE_NOT_ACCESSIBLE`, e.g. customers): no retry, no key helps."""


class QueryError(ApiError):
    """The API rejected a request as invalid (a GraphQL document or a parameter): a bug on our side."""


class RetriesExhausted(ApiError):
    """Transient failures (rate limits, 5xx, timeouts) outlasted the retry budget."""


class ConnectionFailed(RetriesExhausted):
    """The API's host could not be reached at all, usually a wrong base URL or no network."""


class BudgetExhausted(ApiError):
    """An API's announced budget (Clockify's plan, Linear's hourly buckets) is spent for longer than the
    run may wait (API_BUDGET_WAIT_SECONDS). Not a failure: the run keeps what it committed and reports
    when to resume. `resume_at` is when the budget is full again (epoch seconds, on the API clock),
    `next_at` when the next request would fit."""

    def __init__(self, message: str, *, service: str, resume_at: float, next_at: float, budget: str) -> None:
        super().__init__(message, service=service)
        self.resume_at = resume_at
        self.next_at = next_at
        self.budget = budget  # e.g. "Free plan: 30 requests/hour", "complexity: 250,000 points/hour"
