"""The jobs' executor (orchestration/executor.py): steps in threads, the steps of one API client in turn, the
two clients side by side; failures and selections as with Dagster's in-process executor; and the warehouse
lock taken in turn by the threads of one process (orchestration/warehouse/locking.py)."""

from __future__ import annotations

import os
import threading
import time

import dagster as dg
import pytest

from orchestration import executor
from orchestration.warehouse.locking import WarehouseLockTimeout, warehouse_lock


class Recorder:
    """Which steps run at once: each asset enters, meets the others at a barrier or not, and leaves."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.threads: set[int] = set()
        self.now = self.most_at_once = 0

    def enter(self, lane: str) -> None:
        with self.lock:
            self.active[lane] = self.active.get(lane, 0) + 1
            self.most[lane] = max(self.most.get(lane, 0), self.active[lane])
            self.threads.add(threading.get_ident())
            self.now += 1
            self.most_at_once = max(self.most_at_once, self.now)

    def leave(self, lane: str) -> None:
        with self.lock:
            self.active[lane] -= 1
            self.now -= 1


def _definitions(recorder: Recorder, barrier: threading.Barrier, fail: str = ""):
    """Three assets of each client (each source's first two meet the other source's at `barrier`, which only
    passes when both sources run at once), one asset downstream of all, and one that may fail."""

    def make(name: str, lane: str, meet: bool, deps=()):
        @dg.asset(name=name, required_resource_keys={lane}, deps=list(deps))
        def _asset(context):
            recorder.enter(lane)
            try:
                if meet:
                    barrier.wait()  # BrokenBarrierError after its timeout: the two sources did not overlap
                time.sleep(0.05)
                if name == fail:
                    raise RuntimeError(f"{name} failed on purpose")
            finally:
                recorder.leave(lane)
            return dg.MaterializeResult()

        return _asset

    assets = [
        make("clockify_a", "clockify", True),
        make("clockify_b", "clockify", True),
        make("clockify_c", "clockify", False),
        make("linear_a", "linear", True),
        make("linear_b", "linear", True),
        make("linear_c", "linear", False),
    ]
    downstream = make("marts", "warehouse", False, deps=[a.key for a in assets])
    job = dg.define_asset_job("job", executor_def=executor.threaded_executor)
    return dg.Definitions(
        assets=[*assets, downstream],
        jobs=[job],
        resources={"clockify": dg.ResourceDefinition.none_resource(), "linear": dg.ResourceDefinition.none_resource(),
                   "warehouse": dg.ResourceDefinition.none_resource()},
    )  # fmt: skip


def test_the_two_clients_steps_overlap_and_each_clients_steps_take_turns():
    recorder = Recorder()
    barrier = threading.Barrier(2, timeout=60)
    job = _definitions(recorder, barrier).resolve_job_def("job")
    result = executor.execute_in_threads(job, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert not barrier.broken  # a Clockify step and a Linear step ran at once, twice
    assert recorder.most == {"clockify": 1, "linear": 1, "warehouse": 1}  # never two steps of one client
    assert recorder.most_at_once == 2 and len(recorder.threads) > 1
    engine = [e.message for e in result.all_events if e.event_type_value == "ENGINE_EVENT"]
    assert any(executor.ENGINE_MESSAGE in (m or "") for m in engine)


def test_a_failed_step_skips_what_depends_on_it_and_the_other_steps_finish():
    recorder = Recorder()
    barrier = threading.Barrier(2, timeout=60)
    job = _definitions(recorder, barrier, fail="clockify_c").resolve_job_def("job")
    result = executor.execute_in_threads(job, instance=dg.DagsterInstance.ephemeral())
    assert not result.success
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failed == ["clockify_c"]
    succeeded = {e.step_key for e in result.all_events if e.is_step_success}
    assert succeeded == {"clockify_a", "clockify_b", "linear_a", "linear_b", "linear_c"}
    assert "marts" not in succeeded  # downstream of the failure: not run


def test_a_selection_and_tags_run_like_execute_in_process():
    recorder = Recorder()
    barrier = threading.Barrier(1)
    definitions = _definitions(recorder, barrier)
    job = definitions.resolve_job_def("job")
    instance = dg.DagsterInstance.ephemeral()
    result = executor.execute_in_threads(
        job, instance=instance, tags={"who": "test"}, asset_selection=[dg.AssetKey("linear_c")]
    )
    assert result.success
    assert {e.step_key for e in result.all_events if e.is_step_success} == {"linear_c"}
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["who"] == "test" and run.asset_selection == {dg.AssetKey("linear_c")}


def test_the_warehouse_job_and_the_code_locations_assets_use_the_threaded_executor(tmp_path):
    from orchestration.definitions import build_definitions
    from orchestration.jobs import WAREHOUSE_JOB
    from orchestration.settings import Settings

    settings = Settings.from_env({**os.environ, "WAREHOUSE_PATH": str(tmp_path / "w.duckdb")})
    definitions = build_definitions(settings)
    assert definitions.resolve_job_def(WAREHOUSE_JOB).executor_def is executor.threaded_executor
    assert definitions.resolve_implicit_global_asset_job_def().executor_def is executor.threaded_executor


def _take_in_thread(db, shared: bool, timeout: float) -> dict:
    outcome: dict = {}

    def take():
        try:
            with warehouse_lock(db, shared=shared, timeout_seconds=timeout):
                outcome["got"] = True
        except WarehouseLockTimeout:
            outcome["got"] = False

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(60)
    return outcome


def test_threads_of_one_process_take_the_warehouse_lock_in_turn(tmp_path):
    """A writer thread excludes the other threads (two DuckDB instances of one process writing one file meet no
    OS lock); readers share; one thread may nest its own takes. Before the executor ran steps in threads, the
    lock was re-entrant for the whole process and the second thread got it at once."""
    db = tmp_path / "w.duckdb"
    with warehouse_lock(db):
        with warehouse_lock(db, shared=True), warehouse_lock(db):  # the same thread: re-entrant
            pass
        assert _take_in_thread(db, shared=True, timeout=0.3) == {"got": False}
        assert _take_in_thread(db, shared=False, timeout=0.3) == {"got": False}
    with warehouse_lock(db, shared=True):
        assert _take_in_thread(db, shared=True, timeout=0.3) == {"got": True}  # readers share
        assert _take_in_thread(db, shared=False, timeout=0.3) == {"got": False}  # a writer waits for readers
    assert _take_in_thread(db, shared=False, timeout=0.3) == {"got": True}  # all let go: free again


def test_a_waiting_thread_gets_the_lock_when_the_writer_lets_go(tmp_path):
    db = tmp_path / "w.duckdb"
    release = threading.Event()
    holding = threading.Event()

    def writer():
        with warehouse_lock(db):
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(60)
    started = time.monotonic()
    threading.Timer(0.3, release.set).start()
    with warehouse_lock(db, timeout_seconds=60):
        waited = time.monotonic() - started
    thread.join(60)
    assert waited >= 0.25


@pytest.mark.parametrize("shared", [True, False])
def test_a_release_from_another_thread_frees_the_takers_hold(tmp_path, shared):
    """A connection closed by the garbage collector in another thread releases its own thread's hold."""
    from orchestration.warehouse.locking import acquire

    db = tmp_path / "w.duckdb"
    release = acquire(db, shared=shared, timeout_seconds=1)
    closer = threading.Thread(target=release)
    closer.start()
    closer.join(60)
    assert _take_in_thread(db, shared=False, timeout=0.3) == {"got": True}


def test_one_step_thread_runs_one_step_at_a_time_and_the_setting_says_so():
    from orchestration.settings import ConfigError, Settings

    recorder = Recorder()
    definitions = _definitions(recorder, threading.Barrier(1))
    job = definitions.resolve_job_def("job").with_executor_def(executor.threads_executor(1))
    assert executor.execute_in_threads(job, instance=dg.DagsterInstance.ephemeral()).success
    assert recorder.most_at_once == 1
    assert Settings.from_env({**os.environ, "WAREHOUSE_STEP_THREADS": "1"}).step_threads == 1
    assert Settings.from_env(dict(os.environ)).step_threads == executor.DEFAULT_MAX_CONCURRENT
    with pytest.raises(ConfigError, match="WAREHOUSE_STEP_THREADS='0' must be a whole number of steps, at least 1"):
        Settings.from_env({**os.environ, "WAREHOUSE_STEP_THREADS": "0"})


def test_many_quick_steps_all_finish_once_run_after_run():
    """Steps that end at once, in both lanes and in none, many runs: every step succeeds exactly once (a step
    ending as the orchestrator's wait timed out was once finished twice, which failed the run)."""
    quick = []
    for lane in ("clockify", "linear", "warehouse"):
        for n in range(8):

            @dg.asset(name=f"{lane}_{n}", required_resource_keys={lane})
            def _quick(context):
                return dg.MaterializeResult()

            quick.append(_quick)
    none = dg.ResourceDefinition.none_resource()
    definitions = dg.Definitions(
        assets=quick,
        jobs=[dg.define_asset_job("job", executor_def=executor.threaded_executor)],
        resources={"clockify": none, "linear": none, "warehouse": none},
    )
    job = definitions.resolve_job_def("job")
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(5):
        result = executor.execute_in_threads(job, instance=instance)
        assert result.success
        succeeded = [e.step_key for e in result.all_events if e.is_step_success]
        assert sorted(succeeded) == sorted(a.op.name for a in quick)


def test_an_interrupt_stops_the_running_steps_and_starts_no_more():
    """Ctrl-C (SIGINT to the run's process) reaches the steps running in threads, as Dagster's in-process
    executor raises it in its one step: they stop within moments, nothing downstream starts, the run fails."""
    import _thread

    started = threading.Event()
    ran_after: list[str] = []

    @dg.asset(required_resource_keys={"clockify"})
    def slow_clockify(context):
        started.set()
        for _ in range(1200):  # two minutes unless interrupted (Python code: the interrupt lands between calls)
            time.sleep(0.1)
        return dg.MaterializeResult()

    @dg.asset(required_resource_keys={"linear"})
    def slow_linear(context):
        for _ in range(1200):
            time.sleep(0.1)
        return dg.MaterializeResult()

    @dg.asset(deps=[slow_clockify, slow_linear])
    def after(context):
        ran_after.append("after")
        return dg.MaterializeResult()

    none = dg.ResourceDefinition.none_resource()
    definitions = dg.Definitions(
        assets=[slow_clockify, slow_linear, after],
        jobs=[dg.define_asset_job("job", executor_def=executor.threaded_executor)],
        resources={"clockify": none, "linear": none},
    )
    threading.Thread(
        target=lambda: started.wait(60) and (time.sleep(0.5), _thread.interrupt_main()), daemon=True
    ).start()
    began = time.monotonic()
    instance = dg.DagsterInstance.ephemeral()
    try:
        result = executor.execute_in_threads(definitions.resolve_job_def("job"), instance=instance)
        success = result.success
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        success = False
    assert time.monotonic() - began < 60 and not success and not ran_after
    (run,) = instance.get_runs()
    assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
