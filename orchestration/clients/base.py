"""What both API clients share as Dagster resources: timeouts, the retry budget, the API budget they pace
themselves by (budget.py) and a private session.

The defaults are `settings.ApiSettings`'s (one place); orchestration/resources.py builds the clients
from the `Settings` of the run.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from orchestration.clients.budget import SYSTEM_CLOCK, ApiClock, Budget, BudgetStore, WaitAllowance
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

    budget_wait_seconds: float | None = Field(
        default=ApiSettings.budget_wait_seconds,
        ge=0,
        description="Seconds this client may wait in total for the API's budget before the run stops with what "
        "it loaded (API_BUDGET_WAIT_SECONDS); None waits as long as it takes (`warehouse sync --wait`).",
    )
    budget_store_path: str = Field(
        default="", description="JSON file the budget state outlives the run in (beside the warehouse); '' = memory."
    )

    # One session per instance: connection reuse across pages, and nothing shared between resources.
    _http: RetryingHttp | None = PrivateAttr(default=None)
    _clock: ApiClock | None = PrivateAttr(default=None)
    _budget: Budget | None = PrivateAttr(default=None)

    def _service(self) -> Service:
        raise NotImplementedError

    def _make_budget(self, clock: ApiClock, allowance: WaitAllowance, store: BudgetStore) -> Budget | None:
        return None

    def use_clock(self, clock: ApiClock | None) -> None:
        """Run on another clock (the sandbox's simulated one in tests and benchmarks): retry backoff and budget
        waits sleep on it, budgets read the time from it. Before the first request."""
        self._clock = clock

    @property
    def clock(self) -> ApiClock:
        return self._clock or SYSTEM_CLOCK

    @property
    def budget(self) -> Budget | None:
        if self._budget is None:
            self._budget = self._make_budget(
                self.clock, WaitAllowance(self.budget_wait_seconds), BudgetStore(self.budget_store_path or None)
            )
        return self._budget

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
                budget=self.budget,
                **({"sleep": self._clock.sleep, "clock": self._clock.time} if self._clock is not None else {}),
            )
        return self._http

    @property
    def requests_made(self) -> int:
        """HTTP requests this instance has sent, retries included (for asset metadata)."""
        return 0 if self._http is None else self._http.requests_made

    def budget_report(self) -> dict[str, Any]:
        """The budget this client paced by and what it waited (asset metadata)."""
        return self.budget.report() if self.budget is not None else {}

    def close(self) -> None:
        """Close the session (keeps the counter; a closed session reopens if used again)."""
        if self._http is not None:
            self._http.close()

    def teardown_after_execution(self, context: Any) -> None:
        self.close()
