"""The warehouse job's executor: the steps of a run in threads of the run's own process, so the raw loads of
Clockify and of Linear fetch at the same time (they share nothing until dbt), and `execute_in_threads`, what
`warehouse sync` runs a job with.

Dagster's in-process executor (what `execute_in_process` uses) runs one step at a time; its multiprocess
executor (the default of UI runs) starts a process per step that loads the whole code location again (imports,
definitions, the dbt manifest: seconds per step, and every step's resources built anew). Here:

- every step that is ready runs in a thread, at most `max_concurrent` at once; resources are built once per run;
- steps that need the same *lane* resource (the API clients `clockify` and `linear`: their request counts,
  pacing and budgets belong to one run) take turns in the order Dagster hands them out, so each source
  fetches one asset at a time and the two sources overlap; a raw asset added to either source needs its
  client, so it joins that source's lane by itself;
- the DuckDB file keeps one writer: every write takes the warehouse lock, which threads take in turn as
  processes do (orchestration/warehouse/locking.py); only the fetch and the staging run side by side;
- a failed step fails as in the in-process executor: its commit is one transaction (nothing of it stays), the
  steps downstream of it are skipped, the others finish;
- an interrupt (Ctrl-C, the UI's termination) starts no more steps and is raised in the running ones (as
  Dagster raises it in its step processes); their loads roll back.

Dagster has no public threaded executor; this module is the one place that uses its private execution API
(tests/test_architecture.py, tests/test_executor.py).
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetKey, Field, Int, JobDefinition, executor
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.execute_in_process import core_execute_in_process, merge_run_tags
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult
from dagster._core.execution.plan.execute_plan import _trigger_hook, dagster_event_sequence_for_step
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.base import Executor

# The resources whose steps take turns (orchestration/resources.py names them).
API_LANES = ("clockify", "linear")
DEFAULT_MAX_CONCURRENT = 4
ENGINE_MESSAGE = "Executing steps in threads"  # the run's first engine event says it (tests look for it)
POLL_SECONDS = 0.25  # how often the waiting orchestrator checks for an interrupt


@dataclass
class _Running:
    thread: threading.Thread
    step_context: Any
    lanes: frozenset[str]
    events: list = field(default_factory=list)
    done: bool = False
    error: BaseException | None = None


_DONE = object()


def _raise_in(thread: threading.Thread, error: type[BaseException]) -> None:
    """Raise `error` in `thread` at its next Python instruction (the step's code; a C call finishes first)."""
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(error))


def _run_step(key: str, step_context, events: queue.SimpleQueue) -> None:
    try:
        for event in dagster_event_sequence_for_step(step_context):
            events.put((key, event))
    except BaseException as error:  # an interrupt raised into the step, or an error of Dagster's own
        events.put((key, error))
    finally:
        events.put((key, _DONE))


def _step_iterator(
    job_context: PlanExecutionContext,
    execution_plan: ExecutionPlan,
    max_concurrent: int,
    lanes: Collection[str],
) -> Iterator[DagsterEvent]:
    """`inner_plan_execution_iterator` of Dagster's in-process executor, with the steps in threads."""
    compute_log_manager = job_context.instance.compute_log_manager
    step_keys = [step.key for step in execution_plan.get_steps_to_execute_in_topo_order()]
    with (
        InstanceConcurrencyContext(job_context.instance, job_context.dagster_run) as concurrency,
        execution_plan.start(
            retry_mode=job_context.retry_mode,
            instance_concurrency_context=concurrency,
            step_dependency_config=job_context.step_dependency_config,
        ) as active,
        ExitStack() as capture_stack,
    ):
        try:
            log_key = compute_log_manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
            log_context = capture_stack.enter_context(compute_log_manager.capture_logs(log_key))
            yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
        except Exception:
            yield DagsterEvent.engine_event(
                job_context,
                "Exception while setting up compute log capture",
                EngineEventData(error=None),
            )
        events: queue.SimpleQueue = queue.SimpleQueue()
        running: dict[str, _Running] = {}
        ready: list = []  # (step, its context) handed out by Dagster, waiting for a thread or for their lane
        interrupted = False
        failure: BaseException | None = None
        try:
            while True:
                if not interrupted and active.check_for_interrupts():
                    interrupted = True
                    active.mark_interrupted()
                    yield DagsterEvent.engine_event(
                        job_context,
                        "Interrupted: no more steps start; the running ones are interrupted.",
                        EngineEventData.interrupted(list(running)),
                    )
                    for entry in running.values():
                        _raise_in(entry.thread, DagsterExecutionInterruptedError)
                if not interrupted:
                    if not active.is_complete:
                        for step in active.get_steps_to_execute():
                            ready.append((step, job_context.for_step(step, active.get_known_state())))
                    yield from active.concurrency_event_iterator(job_context)
                    busy = set().union(*(entry.lanes for entry in running.values()))
                    for step, step_context in list(ready):
                        if len(running) >= max_concurrent:
                            break
                        needs = frozenset(lanes).intersection(step_context.required_resource_keys)
                        if needs & busy:
                            continue
                        ready.remove((step, step_context))
                        busy |= needs
                        thread = threading.Thread(
                            target=_run_step,
                            args=(step.key, step_context, events),
                            name=f"step-{step.key}"[:60],
                            daemon=True,  # a process told to exit does not wait for a step stuck in C
                        )
                        running[step.key] = _Running(thread, step_context, needs)
                        thread.start()
                if not running:
                    if active.is_complete or interrupted:
                        break
                    if not ready:
                        active.sleep_til_ready()
                    continue
                try:
                    key, item = events.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    # A thread that ended without its marker (an interrupt raised into its last lines): once it
                    # is gone and the queue is empty, everything it put has been handled.
                    gone = [key for key, entry in running.items() if not entry.thread.is_alive()]
                    if gone and events.empty():
                        for key in gone:
                            running[key].done = True
                            yield from _finish(job_context, active, running.pop(key))
                    continue
                entry = running.get(key)
                if entry is None:  # cannot happen (a thread's items all come before it is seen gone); ignore
                    continue
                if item is _DONE:
                    entry.done = True
                    yield from _finish(job_context, active, running.pop(key))
                    if entry.error is not None and not isinstance(entry.error, DagsterExecutionInterruptedError):
                        failure = failure or entry.error
                elif isinstance(item, BaseException):
                    entry.error = item
                else:
                    entry.events.append(item)
                    yield item
                    active.handle_event(item)
                if failure is not None and not running:
                    raise failure
        except BaseException:
            # The orchestrator itself was interrupted (Ctrl-C without Dagster's capture) or failed: stop the
            # steps too and let them end (their loads roll back) before the run is marked.
            for entry in running.values():
                _raise_in(entry.thread, DagsterExecutionInterruptedError)
            for entry in running.values():
                entry.thread.join(30)
            raise
        if failure is not None:
            raise failure
        try:
            capture_stack.close()
        except Exception:
            yield DagsterEvent.engine_event(
                job_context, "Exception while cleaning up compute log capture", EngineEventData(error=None)
            )


def _finish(job_context, active, entry: _Running) -> Iterator[DagsterEvent]:
    key = entry.step_context.step.key
    active.verify_complete(job_context, key)
    for event in active.plan_events_iterator(job_context):  # steps skipped by this one's outcome
        entry.events.append(event)
        yield event
    yield from _trigger_hook(entry.step_context, entry.events)


class ThreadedExecutor(Executor):
    def __init__(self, retries: RetryMode, max_concurrent: int, lanes: Sequence[str]) -> None:
        self._retries = retries
        self.max_concurrent = max_concurrent
        self.lanes = tuple(lanes)

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        keys = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(
            plan_context,
            f"{ENGINE_MESSAGE} of one process (pid: {os.getpid()}), at most {self.max_concurrent} at once; "
            f"steps that use {' or '.join(self.lanes)} take turns",
            event_specific_data=EngineEventData.in_process(os.getpid(), keys),
        )

        def iterator(job_context, execution_plan):
            return _step_iterator(job_context, execution_plan, self.max_concurrent, self.lanes)

        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=iterator,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job,
                retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan,
                run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run,
                instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error,
                output_capture=plan_context.output_capture,
            ),
        )


@executor(
    name="threads",
    config_schema={
        "max_concurrent": Field(Int, default_value=DEFAULT_MAX_CONCURRENT, description="Steps running at once."),
        "retries": get_retries_config(),
    },
)
def threaded_executor(init_context) -> ThreadedExecutor:
    """Steps in threads of the run's process; steps that use the same API client take turns
    (orchestration/executor.py)."""
    config = init_context.executor_config
    return ThreadedExecutor(RetryMode.from_config(config["retries"]), max(1, config["max_concurrent"]), API_LANES)


def threads_executor(max_concurrent: int = DEFAULT_MAX_CONCURRENT):
    """The threaded executor with at most `max_concurrent` steps at once (a run's config may still change it)."""
    if max_concurrent == DEFAULT_MAX_CONCURRENT:
        return threaded_executor
    return threaded_executor.configured({"max_concurrent": max_concurrent}, name=threaded_executor.name)


def execute_in_threads(
    job: JobDefinition,
    *,
    run_config: Mapping[str, Any] | None = None,
    instance=None,
    tags: Mapping[str, str] | None = None,
    asset_selection: Sequence[AssetKey] | None = None,
    raise_on_error: bool = False,
) -> ExecuteInProcessResult:
    """`job.execute_in_process(...)` with the steps in threads (this module's executor) instead of one by one:
    the same run record, events, result and in-memory outputs."""
    selection = list(asset_selection or [])
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=selection or None)
    # The job's own threaded executor (as configured: WAREHOUSE_STEP_THREADS), else the default one.
    threads = job.executor_def if job.executor_def.name == threaded_executor.name else threaded_executor
    ephemeral = ephemeral.with_executor_def(threads)
    config = dict(run_config or {})
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=config,
        instance=instance,
        output_capturing_enabled=True,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(
            job_def=job,
            partition_key=None,
            tags=tags,
            asset_selection=selection,
            instance=instance,
            run_config=config,
        ),
        run_id=None,
        asset_selection=frozenset(selection),
    )
