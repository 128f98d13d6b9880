"""Fault matrix: flaky APIs, repeated and overlapping loads and data changing between loads, each ending
with marts (and raw rows) identical to a clean run of the same data (tests/reliability.py).

Faults are grouped per run where they are independent; every case is asserted to have fired
(`sandbox.faults.history`). Client settings are tuned for the matrix (small pages so page N can fail after
pages 1..N-1 succeeded, a 2 s read timeout so a `slow` answer is a read timeout, short backoff).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace

import pytest
from dagster import AssetKey, DagsterInstance

from orchestration.runs import SyncError, run_sync
from orchestration.settings import Settings
from tests import reliability as r
from tests.conftest import ANCHOR

LINEAR_ISSUES = AssetKey(["raw", "linear_issues"])
CLOCKIFY_ENTRIES = AssetKey(["raw", "clockify_time_entries"])
READ_TIMEOUT = 2.0


@pytest.fixture
def tuned_clients():
    """The settings of the environment as it is now, with the clients tuned for the matrix."""

    def settings() -> Settings:
        base = Settings.from_env(os.environ)
        return replace(
            base,
            api=replace(base.api, backoff_base=0.05, read_timeout=READ_TIMEOUT),
            clockify=replace(base.clockify, page_size=4, report_page_size=25),
            linear=replace(base.linear, page_size=40),
        )

    return settings


@dataclass(frozen=True)
class Wait:
    service: str  # "Clockify" / "Linear"
    retry_after: float | None  # the server's Retry-After for the failed attempt, None when it sent none
    requested: float  # what the retry loop asked to sleep
    slept: float  # what the sleep really took (monotonic clock)


@pytest.fixture
def waits(monkeypatch) -> list[Wait]:
    """Every wait of the clients' retry loops, with the Retry-After behind it: through the loop's
    injectable `sleep` (each RetryingHttp gets a timed one) and the `backoff_delay` it asks for the delay."""
    from orchestration.clients import http

    seen: list[Wait] = []
    hint = threading.local()  # pages are fetched from several threads: pair each delay with its own sleep
    real_backoff, real_init = http.backoff_delay, http.RetryingHttp.__init__

    def backoff(attempt, retry_after=None, *args, **kwargs):
        hint.retry_after = retry_after
        return real_backoff(attempt, retry_after, *args, **kwargs)

    def init(self, service, headers, *, sleep=time.sleep, **kwargs):
        def timed_sleep(seconds):
            began = time.monotonic()
            sleep(seconds)
            seen.append(Wait(service.name, getattr(hint, "retry_after", None), seconds, time.monotonic() - began))

        real_init(self, service, headers, sleep=timed_sleep, **kwargs)

    monkeypatch.setattr(http, "backoff_delay", backoff)
    monkeypatch.setattr(http.RetryingHttp, "__init__", init)
    return seen


def honoured(waits: list[Wait], service: str) -> list[tuple[float, float]]:
    """(Retry-After, requested wait) of the service's waits that followed a Retry-After; each really slept."""
    hinted = [w for w in waits if w.service == service and w.retry_after is not None]
    assert all(w.slept >= w.requested for w in hinted), hinted
    return [(w.retry_after, w.requested) for w in hinted]


def fired(sb) -> Counter:
    return Counter((api, kind) for api, kind, _path in sb.faults.history)


def logs(instance, outcome) -> str:
    return "\n".join(e.user_message for e in instance.all_logs(outcome.run_id))


def test_faults_repeats_overlaps_and_changes_end_like_a_clean_run(tuned_clients, waits, tmp_path):
    from sandbox import Sandbox

    reference = r.clean_reference()
    warehouse = tmp_path / "faulty.duckdb"
    start, end = r.RANGE
    with Sandbox(r.sandbox_config()) as sb, r.environment(**r.sync_env(sb, warehouse)):
        faults = sb.faults
        instance = DagsterInstance.ephemeral()

        # 1. Linear issues, first (full-history) load: RATELIMITED on HTTP 400, then page 2 of 3 answers 500
        #    twice after page 1 succeeded.
        faults.add("linear", "ratelimited_400", times=1, retry_after=0)
        faults.add("linear", "500", times=2, after=1)
        run_sync(
            tuned_clients(), start, ANCHOR - dt.timedelta(days=6), asset_selection=[LINEAR_ISSUES], instance=instance
        )
        assert fired(sb) == {("linear", "ratelimited_400"): 1, ("linear", "500"): 2}
        assert not faults.pending()
        assert honoured(waits, "Linear") == [(0.0, 0.0)]  # Retry-After: 0 means now, not a backoff
        loaded = r.raw(warehouse)["linear_issues"]
        assert len(loaded) == len(sb.workspace.linear_issues) == len({row[0] for row in loaded})

        # 2. Every raw asset for the first days, Clockify misbehaving in every way on both hosts.
        faults.history.clear()
        faults.add("clockify", "429", times=3, retry_after=0.5)  # a 429 storm with Retry-After
        faults.add("clockify", "502", times=2, after=2)
        faults.add("clockify", "503", times=2, after=4)
        faults.add("clockify", "reset", times=1, after=6)
        faults.add("clockify", "truncated", times=1, after=8, mode="cut")  # a 200 whose JSON is cut off
        faults.add("clockify_reports", "slow", times=1, delay=READ_TIMEOUT + 1.5)  # read timeout
        # (rules fire in order: these hit the following attempts, then a later page)
        faults.add("clockify_reports", "502", times=1)
        faults.add("clockify_reports", "truncated", times=1)  # connection closed mid-body
        faults.add("clockify_reports", "reset", times=1)
        faults.add("clockify_reports", "503", times=2, after=2)
        waits.clear()
        outcome = run_sync(
            tuned_clients(), start, ANCHOR - dt.timedelta(days=6), asset_selection=r.RAW_KEYS, instance=instance
        )
        # The three Retry-After waits were honoured: exactly the server's 0.5 s each, really slept (the run's
        # wall time would prove nothing: the read timeout alone takes 2 s).
        assert honoured(waits, "Clockify") == [(0.5, 0.5)] * 3
        assert not faults.pending()
        assert set(fired(sb)) == {("clockify", k) for k in ("429", "502", "503", "reset", "truncated")} | {
            ("clockify_reports", k) for k in ("slow", "502", "truncated", "reset", "503")
        }
        log_text = logs(instance, outcome)
        assert "HTTP 429; retrying in 0.5 s" in log_text
        assert f"read timeout after {READ_TIMEOUT:g} s" in log_text
        assert "connection reset" in log_text and "invalid JSON body on HTTP 200" in log_text

        # 3. An overlapping range, Linear rate limited (HTTP 429 form) and failing with 500s and 503s.
        faults.history.clear()
        faults.add("linear", "ratelimited_429", times=2, retry_after=0.2)
        faults.add("linear", "500", times=1, after=3)
        faults.add("linear", "503", times=1, after=5)
        overlap = (ANCHOR - dt.timedelta(days=8), end)
        waits.clear()
        run_sync(tuned_clients(), *overlap, asset_selection=r.RAW_KEYS, instance=instance)
        assert fired(sb) == {("linear", "ratelimited_429"): 2, ("linear", "500"): 1, ("linear", "503"): 1}
        assert honoured(waits, "Linear") == [(0.2, 0.2)] * 2
        after_overlap = r.raw(warehouse)

        # 4. The same range again, no change upstream: not a row more, not a row less.
        run_sync(tuned_clients(), *overlap, asset_selection=r.RAW_KEYS, instance=instance)
        r.assert_same(r.raw(warehouse), after_overlap, "raw after loading the same partitions twice")

        # 5. Data changes upstream (edit, delete, stop a timer, move and archive issues, odd records),
        #    then the trailing days are synced again (with a few more faults) and dbt builds the marts.
        changed = r.mutate(sb.workspace)
        faults.history.clear()
        faults.add("clockify", "429", times=2, retry_after=None)  # Clockify documents no Retry-After
        faults.add("linear", "ratelimited_400", times=1, after=2, retry_after=0)
        waits.clear()
        run_sync(tuned_clients(), r.MUTATED_DAYS_FROM, end, instance=instance)
        assert fired(sb) == {("clockify", "429"): 2, ("linear", "ratelimited_400"): 1}
        # Without Retry-After the client backs off on its own (two Clockify waits, none claiming a hint).
        assert honoured(waits, "Clockify") == [] and len([w for w in waits if w.service == "Clockify"]) == 2

    r.assert_same(r.raw(warehouse), r.raw(reference), "raw")
    r.assert_same(r.marts(warehouse), r.marts(reference), "marts")
    # And right, not only equal to the clean run: every mart equals the oracle over the changed data.
    r.assert_marts_match_oracle(warehouse, sb.workspace, *r.RANGE)
    # The changes really are in the marts (the comparison is not vacuous).
    from tests.test_bad_input import warehouse_rows

    ids = {row[0] for row in warehouse_rows(warehouse, "SELECT time_entry_id FROM marts.fct_time_entries")}
    assert changed["deleted"] not in ids and changed["edited"] in ids and changed["stopped"] in ids
    identifiers = warehouse_rows(
        warehouse,
        "SELECT issue_identifier, previous_identifiers FROM staging.stg_linear__issues WHERE issue_id = $id",
        {"id": changed["moved"]},
    )
    assert identifiers[0][0] == changed["new_identifier"] and changed["old_identifier"] in identifiers[0][1]


def test_exhausted_retries_fail_with_one_line_and_keep_the_warehouse(tuned_clients, tmp_path, monkeypatch):
    """Attempts and total time are both bounded; the failed run changes nothing already loaded."""
    from sandbox import Sandbox

    warehouse = r.copy_warehouse(r.clean_reference(), tmp_path / "previous.duckdb")
    before_marts = r.marts(warehouse)
    with (
        Sandbox(r.sandbox_config()) as sb,
        r.environment(**r.sync_env(sb, warehouse, API_MAX_ATTEMPTS="3", API_MAX_RETRY_SECONDS="5")),
    ):
        r.mutate(sb.workspace)
        # Upstream moved on, so a successful load would change both the entries and the issues.
        entry = next(e for e in sb.workspace.clockify_time_entries if e["timeInterval"]["end"])
        sb.workspace.edit_time_entry(entry["id"], description="changed after the clean run")
        issue = sb.workspace.linear_issues[0]
        sb.workspace.edit_issue(issue["id"], title="changed after the clean run")

        clockify_dims = ["clockify_users", "clockify_projects", "clockify_clients", "clockify_tags"]
        cases = [
            # attempts: the report host keeps answering 503
            (
                lambda: sb.faults.add("clockify_reports", "503", times=100),
                None,
                r.RANGE,
                "clockify_time_entries",
                "after 3 attempts",
                "API_MAX_ATTEMPTS",
                ["clockify_time_entries"],
                {},
            ),
            # total time: a Retry-After longer than the whole budget
            (
                lambda: sb.faults.add("clockify", "429", times=100, retry_after=30),
                None,
                r.RANGE,
                "clockify_",
                "server asked to wait 30 s",
                "API_MAX_RETRY_SECONDS",
                clockify_dims,
                {},
            ),
            # a Linear page fails for good after page 1 succeeded: nothing of page 1 is written (a full re-read
            # of the range: since the watermark, the few issues changed fit one page)
            (
                lambda: sb.faults.add("linear", "500", times=100, after=1),
                [LINEAR_ISSUES],
                (ANCHOR - dt.timedelta(days=39), ANCHOR),
                "linear_issues",
                "after 3 attempts",
                "API_MAX_ATTEMPTS",
                ["linear_issues"],
                {"full_reread": True},
            ),
        ]
        for inject, selection, days, step, detail, knob, failed_tables, options in cases:
            sb.faults.clear()
            sb.faults.history.clear()
            inject()
            before_case = r.raw(warehouse)
            began = time.monotonic()
            with pytest.raises(SyncError) as info:
                run_sync(
                    tuned_clients(), *days, asset_selection=selection, instance=DagsterInstance.ephemeral(), **options
                )
            message = str(info.value)
            assert "\n" not in message and step in message and detail in message and knob in message, message
            assert time.monotonic() - began < 60
            assert sb.faults.history
            # dbt did not run: the marts are exactly the previous ones; the failed tables kept every row.
            r.assert_same(r.marts(warehouse), before_marts, "marts after a failed run")
            after = r.raw(warehouse)
            for table in failed_tables:
                assert after[table] == before_case[table], f"{table} changed by a failed run"
            # (Steps that did not fail may have refreshed their own tables, each in one transaction.)
