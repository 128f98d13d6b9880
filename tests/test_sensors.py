"""The sensor that chains write-back after a successful warehouse run."""

import os

import pytest
from dagster import RunRequest, SkipReason

from orchestration import settings
from orchestration.definitions import build_definitions
from orchestration.sensors import WRITEBACK_SENSOR, writeback_request
from orchestration.settings import Settings


def conf(env):
    return Settings.from_env(env).writeback


def test_write_back_is_requested_once_per_warehouse_run_only_when_enabled():
    skipped = writeback_request("run-1", conf({}))
    assert isinstance(skipped, SkipReason) and "CLOCKIFY_WRITEBACK=1" in skipped.skip_message
    first = writeback_request("run-1", conf({"CLOCKIFY_WRITEBACK": "1"}))
    again = writeback_request("run-1", conf({"CLOCKIFY_WRITEBACK": "1"}))
    other = writeback_request("run-2", conf({"CLOCKIFY_WRITEBACK": "1"}))
    assert isinstance(first, RunRequest) and first.run_key == again.run_key != other.run_key


def test_a_malformed_flag_is_a_clear_error():
    with pytest.raises(settings.ConfigError, match="CLOCKIFY_WRITEBACK"):
        writeback_request("run-1", conf({"CLOCKIFY_WRITEBACK": "maybe"}))


def test_the_sensor_is_in_the_code_location_launches_the_write_back_job_and_starts_off():
    defs = build_definitions(Settings.from_env(os.environ))

    sensor = defs.resolve_sensor_def(WRITEBACK_SENSOR)
    assert sensor.job_name == "clockify_writeback_job"
    assert sensor.default_status.value == "STOPPED"
