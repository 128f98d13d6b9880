"""The instance's event log (orchestration/instance_storage.py): `warehouse sync` records with it (a
DAGSTER_HOME from .env too); it keeps Dagster's files, so a home's history stays readable both ways."""

from __future__ import annotations

import time

from dagster import AssetKey, AssetMaterialization, DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry

from orchestration import instance_storage
from orchestration.instance_storage import FastSqliteEventLogStorage
from orchestration.runs import open_instance
from orchestration.settings import PROJECT_ROOT, Settings


def _store(instance: DagsterInstance, run_id: str, partitions: list[str]) -> None:
    for partition in partitions:
        event = DagsterEvent(
            DagsterEventType.ASSET_MATERIALIZATION.value,
            "job",
            step_key="step",
            event_specific_data=StepMaterializationData(
                AssetMaterialization(AssetKey(["raw", "x"]), partition=partition)
            ),
        )
        entry = EventLogEntry(
            error_info=None,
            level=10,
            user_message="",
            run_id=run_id,
            timestamp=time.time(),
            dagster_event=event,
            job_name="job",
        )
        instance.event_log_storage.store_event(entry)


def _partitions(instance: DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(["raw", "x"])))


def test_open_instance_uses_the_fast_event_log_with_a_home_from_settings_only(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # as when DAGSTER_HOME is set in .env only
    home = tmp_path / "home"
    instance = open_instance(Settings.from_env({"DAGSTER_HOME": str(home)}))
    storage = instance.event_log_storage
    assert isinstance(storage, FastSqliteEventLogStorage)
    _store(instance, "run1", ["2026-01-01", "2026-01-02"])
    assert _partitions(instance) == {"2026-01-01", "2026-01-02"}
    assert (home / "history" / "runs" / "run1.db").exists() and (home / "history" / "runs" / "index.db").exists()
    with storage.run_connection("run1") as conn:  # the pragma is set on every connection
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert len(instance.all_logs("run1")) == 2
    instance.dispose()


def test_dagster_processes_open_the_same_home_with_dagsters_default(tmp_path, monkeypatch):
    """dagster.yaml names no storage (a process without DAGSTER_HOME set can still open a home); what
    `warehouse sync` recorded with the fast storage, Dagster's default reads."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "home"
    instance = open_instance(Settings.from_env({"DAGSTER_HOME": str(home)}))
    _store(instance, "sync-run", ["2026-02-01"])
    instance.dispose()
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()
    with DagsterInstance.from_config(str(home)) as default:
        assert type(default.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert _partitions(default) == {"2026-02-01"}
        assert len(default.all_logs("sync-run")) == 1


def test_history_written_by_dagsters_default_storage_stays_readable(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # an older checkout's home
    with DagsterInstance.from_config(str(home)) as old:
        assert type(old.event_log_storage).__name__ == "SqliteEventLogStorage"
        _store(old, "old-run", ["2025-06-01"])
    instance = open_instance(Settings.from_env({"DAGSTER_HOME": str(home)}))
    assert isinstance(instance.event_log_storage, FastSqliteEventLogStorage)
    assert _partitions(instance) == {"2025-06-01"}
    _store(instance, "new-run", ["2025-06-02"])
    assert _partitions(instance) == {"2025-06-01", "2025-06-02"}
    instance.dispose()


def test_engines_are_kept_per_file_and_bounded(tmp_path):
    storage = FastSqliteEventLogStorage(dagster_home=str(tmp_path))
    first = storage._engine("index")
    assert storage._engine("index") is first  # not a new engine per event, as Dagster's own
    for n in range(instance_storage.ENGINES_KEPT + 3):
        storage._engine(f"run{n}")
    assert len(storage._engines) == instance_storage.ENGINES_KEPT
    storage.dispose()
    assert not storage._engines
