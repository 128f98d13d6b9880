"""Every dbt data test shows in Dagster as an asset check, the multi-model singular tests included."""

from __future__ import annotations

import json

import assets.dbt as dbt_assets


def test_every_dbt_data_test_is_an_asset_check():
    manifest = json.loads(dbt_assets.dbt_project.manifest_path.read_text())
    tests = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    checks = {spec.name for spec in dbt_assets.hours_dbt_assets.check_specs}
    assert tests and tests == checks
    by_name = {spec.name: spec.asset_key.path for spec in dbt_assets.hours_dbt_assets.check_specs}
    assert by_name["assert_hours_per_team_sums_to_matched_hours"] == ["marts", "hours_per_team"]
