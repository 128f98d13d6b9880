"""What both API clients share as Dagster resources: timeouts, the retry budget and a private session.

The defaults are `settings.ApiSettings`'s (one place); orchestration/resources.py builds the clients
from the `Settings` of the run.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from orchestration.clients.http import RetryingHttp, RetryPolicy, Service
from orchestration.settings import ApiSettings


class ApiClientResource(dg.ConfigurableResource):
    connect_timeout: float = Field(
        default=ApiSettings.connect_timeout, gt=0, description="Seconds to wait for a connection."
    )
    read_timeout: float = Field(
        default=ApiSettings.read_timeout, gt=0, description="Seconds to wait for each response."
    )
    max_attempts: int = Field(
        default=ApiSettings.max_attempts, ge=1, description="Attempts per request, the first included."
    )
    max_retry_seconds: float = Field(
        default=ApiSettings.max_retry_seconds,
        ge=0,
        description="Total seconds one request may spend on attempts and waits.",
    )
    backoff_base: float = Field(
        default=ApiSettings.backoff_base, ge=0, description="First backoff window in seconds; doubles."
    )

    # One session per instance: connection reuse across pages, and nothing shared between resources.
    _http: RetryingHttp | None = PrivateAttr(default=None)

    def _service(self) -> Service:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    @property
    def http(self) -> RetryingHttp:
        if self._http is None:
            self._http = RetryingHttp(
                self._service(),
                self._headers(),
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                policy=RetryPolicy(
                    max_attempts=self.max_attempts,
                    max_retry_seconds=self.max_retry_seconds,
                    backoff_base=self.backoff_base,
                ),
            )
        return self._http

    @property
    def requests_made(self) -> int:
        """HTTP requests this instance has sent, retries included (for asset metadata)."""
        return 0 if self._http is None else self._http.requests_made

    def close(self) -> None:
        """Close the session (keeps the counter; a closed session reopens if used again)."""
        if self._http is not None:
            self._http.close()

    def teardown_after_execution(self, context: Any) -> None:
        self.close()
