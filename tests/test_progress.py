"""What `warehouse sync` prints and logs: one line per stage with counts, the full log in a file beside the
warehouse (its path printed), `--verbose` streams that log, and no secret in either."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re

import pytest

from orchestration import cli
from orchestration.runs import Redact
from sandbox import Sandbox, SandboxConfig
from tests.conftest import ANCHOR, SMALL

# Distinctive key values: a leak anywhere would show them verbatim.
CLOCKIFY_KEY = "ck-SECRET-7f3a9b2e41"
LINEAR_KEY = "lin_api_SECRET-c0ffee5150"


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    with Sandbox(SandboxConfig(**SMALL, clockify_api_key=CLOCKIFY_KEY, linear_api_key=LINEAR_KEY)) as sb:
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "wh" / "warehouse.duckdb"))
        monkeypatch.delenv("MARTS_PATH", raising=False)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        assert os.environ["CLOCKIFY_API_KEY"] == CLOCKIFY_KEY
        yield sb


def sync(capfd, *flags) -> tuple[int, list[str], str]:
    day = ANCHOR - dt.timedelta(days=1)
    code = cli.main(["sync", "--start", str(day), "--end", str(ANCHOR), *flags])
    captured = capfd.readouterr()
    return code, captured.out.splitlines(), captured.out + captured.err


def log_file(lines: list[str], tmp_path):
    (line,) = [line for line in lines if line.startswith("Full log: ")]
    path = tmp_path / line.removeprefix("Full log: ")
    assert path.parent == tmp_path / "wh" / "logs" and path.is_file()
    return path.read_text()


@pytest.mark.slow
def test_sync_prints_one_line_per_stage_and_logs_everything_to_a_file(keyed, tmp_path, capfd):
    code, lines, everything = sync(capfd)
    assert code == 0, everything
    for asset in ("raw/clockify_time_entries", "raw/linear_issues", "raw/clockify_users", "raw/linear_teams"):
        assert f"fetching {asset} ..." in lines, lines
        (loaded,) = [line for line in lines if line.startswith(f"loaded {asset}: ")]
        assert " rows, " in loaded and " requests" in loaded and loaded.endswith(" s"), loaded
    entries = next(line for line in lines if line.startswith("loaded raw/clockify_time_entries: "))
    assert f"{ANCHOR - dt.timedelta(days=1)} .. {ANCHOR}" in entries
    dbt = [line for line in lines if line.startswith("dbt build")]
    assert dbt[0].endswith("models and their tests ...") and "/" in dbt[1], dbt
    named = [line for line in lines if line.startswith("dbt test failed: ")]  # each failure named as it comes
    warned = [line for line in lines if line.startswith("dbt test warning: ")]
    assert f" tests, {len(named)} failed, {len(warned)} warnings (" in dbt[-1], (dbt, named, warned)
    assert "check working_days_have_entries on raw/clockify_time_entries: " in "\n".join(lines)
    assert not any(re.search(r"\d+ of \d+ (START|OK|PASS)", line) for line in lines)  # dbt's own log: in the file
    assert len(lines) < 100, f"{len(lines)} lines: {lines}"  # a person can follow it (the summary included)
    assert "DEBUG" not in everything and "INFO" not in everything  # neither on stdout nor on stderr
    log = log_file(lines, tmp_path)
    assert "STEP_SUCCESS" in log and "START sql view model staging.stg_clockify__users" in log
    assert "HTTP/1.1" in log  # the clients' requests (urllib3's debug lines) are there too
    assert CLOCKIFY_KEY not in everything + log and LINEAR_KEY not in everything + log


@pytest.mark.slow
def test_verbose_streams_the_full_log_and_a_failure_still_names_its_log(keyed, tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("API_MAX_ATTEMPTS", "2")
    # The checks' 3 Linear requests pass, then every Linear call fails: the run stops, one line says where.
    keyed.faults.add("linear", "500", times=1000, after=3)
    code, lines, everything = sync(capfd, "--verbose")
    assert code == 1 and any(line.startswith("error: sync ") for line in lines), everything
    assert any(line.startswith("failed raw/linear_") for line in lines), lines
    log = log_file(lines, tmp_path)
    assert "DEBUG" in everything and "STEP_START" in everything  # the debug stream reached the screen
    assert CLOCKIFY_KEY not in everything + log and LINEAR_KEY not in everything + log


def test_the_redaction_masks_a_key_whatever_logged_it(tmp_path):
    handler = logging.FileHandler(tmp_path / "x.log")
    handler.addFilter(Redact([CLOCKIFY_KEY, "abc"]))  # too short to mask safely: left as it is
    log = logging.getLogger("test_progress.redact")
    log.addHandler(handler)
    try:
        log.warning("request with X-Api-Key %s failed (abc)", CLOCKIFY_KEY)
    finally:
        log.removeHandler(handler)
        handler.close()
    text = (tmp_path / "x.log").read_text()
    assert CLOCKIFY_KEY not in text and "X-Api-Key *** failed (abc)" in text
