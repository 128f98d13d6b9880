"""The sensor that chains write-back after a successful warehouse run."""

import pytest
from dagster import RunRequest, SkipReason

from orchestration import settings
from orchestration.sensors import writeback_after_warehouse_run, writeback_request


def test_write_back_is_requested_once_per_warehouse_run_only_when_enabled():
    skipped = writeback_request("run-1", {})
    assert isinstance(skipped, SkipReason) and "CLOCKIFY_WRITEBACK=1" in skipped.skip_message
    first = writeback_request("run-1", {"CLOCKIFY_WRITEBACK": "1"})
    again = writeback_request("run-1", {"CLOCKIFY_WRITEBACK": "1"})
    other = writeback_request("run-2", {"CLOCKIFY_WRITEBACK": "1"})
    assert isinstance(first, RunRequest) and first.run_key == again.run_key != other.run_key


def test_a_malformed_flag_is_a_clear_error():
    with pytest.raises(settings.ConfigError, match="CLOCKIFY_WRITEBACK"):
        writeback_request("run-1", {"CLOCKIFY_WRITEBACK": "maybe"})


def test_the_sensor_is_in_the_code_location_launches_the_write_back_job_and_starts_off():
    from orchestration.definitions import defs

    sensor = defs.resolve_sensor_def(writeback_after_warehouse_run.name)
    assert sensor.job_name == "clockify_writeback_job"
    assert sensor.default_status.value == "STOPPED"
