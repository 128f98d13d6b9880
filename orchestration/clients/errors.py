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
    """The workspace's plan lacks the feature the query reads (Linear: FEATURE_NOT_ACCESSIBLE, e.g. customers)."""


class QueryError(ApiError):
    """The API rejected a request as invalid (a GraphQL document or a parameter): a bug on our side."""


class RetriesExhausted(ApiError):
    """Transient failures (rate limits, 5xx, timeouts) outlasted the retry budget."""


class ConnectionFailed(RetriesExhausted):
    """The API's host could not be reached at all, usually a wrong base URL or no network."""
