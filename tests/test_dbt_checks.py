"""Every dbt data test shows in Dagster as an asset check, the multi-model singular tests included."""

from __future__ import annotations

import json
import os

from assets.dbt import build_dbt_assets
from orchestration.dbt_project import dbt_project, prepare
from orchestration.settings import Settings


def test_every_dbt_data_test_is_an_asset_check():
    project = prepare(dbt_project(Settings.from_env(os.environ)))
    hours_dbt_assets = build_dbt_assets(project)
    manifest = json.loads(project.manifest_path.read_text())
    tests = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test"}
    checks = {spec.name for spec in hours_dbt_assets.check_specs}
    assert tests and tests == checks
    by_name = {spec.name: spec.asset_key.path for spec in hours_dbt_assets.check_specs}
    assert by_name["assert_hours_per_team_sums_to_matched_hours"] == ["marts", "hours_per_team"]
