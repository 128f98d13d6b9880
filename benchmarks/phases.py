"""A user's command with its start-up phases timed: `python -m benchmarks.phases OUT.json warehouse|dagster ARGS...`.

Runs the `warehouse` CLI (`orchestration.cli.main`) or the `dagster` CLI (`dagster.cli.main`, as
`dagster asset materialize` runs it) in this process, unchanged, and appends to OUT.json the wall-clock
moments (`time.time()`, comparable with the Dagster event log's timestamps) at which its start-up phases
ended: the imports, the settings read, the instance opened (storage created on a fresh DAGSTER_HOME), the dbt
manifest prepared and the definitions built. Nothing is patched but timers around those functions, so the
figures are the user's; the wall time of the whole command is measured by the caller
(`benchmarks/user.py`), which also reads the run's steps from DAGSTER_HOME's event log.

One JSON line per phase event. `dagster asset materialize` also loads the code location in each step
process it starts; those processes are not instrumented (the caller sees their cost in the steps' times).
"""

from __future__ import annotations

import time

_STARTED = time.time()

import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402


def _record(out: str, event: str, started: float, ended: float, **extra) -> None:
    with open(out, "a") as f:
        line = {"pid": os.getpid(), "event": event, "start": started, "end": ended, **extra}
        f.write(json.dumps(line) + "\n")


def _timed(out: str, owner, name: str, event: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            _record(out, event, started, time.time())

    setattr(owner, name, timed)


def instrument(out: str) -> None:
    """Timers around the start-up functions, in the modules that call them (imported here, timed)."""
    started = time.time()
    import orchestration.cli  # noqa: PLC0415, F401 - timed

    _record(out, "import_cli", started, time.time())
    started = time.time()
    # What `warehouse sync` imports lazily when it runs (and Dagster when it loads the code location).
    import orchestration.definitions as definitions  # noqa: PLC0415 - timed
    import orchestration.runs as runs  # noqa: PLC0415 - timed
    from orchestration import settings  # noqa: PLC0415 - timed

    _record(out, "import_pipeline", started, time.time())
    _timed(out, settings.Settings, "load", "settings")
    _timed(out, runs, "open_instance", "instance")
    _timed(out, definitions, "prepare", "dbt_manifest")
    _timed(out, definitions, "build_definitions", "definitions")
    _timed(out, runs, "build_definitions", "definitions")
    from orchestration import preflight  # noqa: PLC0415 - timed with the pipeline's imports above

    _timed(out, preflight, "run_checks", "preflight")  # what `warehouse sync` and `check` call
    # the first thing a run does after its start-up: Dagster's executor starting the job
    import dagster  # noqa: PLC0415 - already imported

    _timed(out, dagster.JobDefinition, "execute_in_process", "execute_in_process")
    # what `warehouse sync` runs the job with (orchestration/executor.py), under the same event name
    _timed(out, runs, "execute_in_threads", "execute_in_process")


def main(argv: list[str]) -> int:
    out, program, *args = argv
    _record(out, "interpreter", _STARTED, _STARTED)
    instrument(out)
    if program == "warehouse":
        from orchestration.cli import main as cli_main  # noqa: PLC0415 - imported (and timed) in instrument()

        code = cli_main(args)
    elif program == "dagster":
        from importlib.metadata import entry_points  # noqa: PLC0415 - only for the dagster program

        # the `dagster` script's own entry point (not a public module to import by name)
        (script,) = entry_points(group="console_scripts", name="dagster")
        dagster_main = script.load()

        sys.argv = ["dagster", *args]
        try:
            dagster_main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    else:
        raise SystemExit(f"unknown program {program!r}: warehouse or dagster")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB
    _record(out, "exit", time.time(), time.time(), peak_rss_mib=peak)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
