"""The test process is its own (tests/conftest.py): a developer's `.env` and shell never reach a test, no
test can reach a real warehouse or MARTS_PATH, and nothing writes into the checkout's dbt_project/target/.

Each case runs a small pytest session in a copy of the project (so a `.env` can sit in its root without
touching this checkout), once with the project's conftest and once without it (`--noconftest`): the
second run shows the probe would catch the leak the conftest prevents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PIPELINE_VARIABLES

REPO = Path(__file__).resolve().parent.parent
# This process's environment without anything the pipeline reads: what a fresh shell would have.
CLEAN = {k: v for k, v in os.environ.items() if k not in PIPELINE_VARIABLES}
BOGUS = {
    "MARTS_PATH": "/nonexistent/real/marts.duckdb",
    "WAREHOUSE_PATH": "/nonexistent/real/warehouse.duckdb",
    "CLOCKIFY_API_KEY": "real-key-that-must-not-reach-tests",
}
PROBE = """
import os
from pathlib import Path

from orchestration.settings import PROJECT_ROOT, Settings

BOGUS = {bogus!r}


def test_nothing_real_reaches_the_tests():
    settings = Settings.load()  # what the CLI and the code location read
    assert str(settings.marts_path) != BOGUS["MARTS_PATH"]
    assert str(settings.warehouse_path) != BOGUS["WAREHOUSE_PATH"]
    assert settings.clockify.api_key is None
    assert not set(BOGUS.values()) & set(os.environ.values())
    assert not str(settings.dbt_target_path).startswith(str(PROJECT_ROOT))
"""


def project_copy(root: Path) -> Path:
    copy = root / "project"
    for name in ("orchestration", "assets", "sandbox", "dbt_project", "tests"):
        shutil.copytree(
            REPO / name,
            copy / name,
            ignore=shutil.ignore_patterns("__pycache__", "target", "logs", "test_*.py"),
        )
    for name in ("pyproject.toml", "dagster.yaml"):
        shutil.copy(REPO / name, copy / name)
    return copy


def run_session(copy: Path, probe: str, *args: str, env: dict | None = None):
    (copy / "tests" / "test_probe.py").write_text(probe)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_probe.py", *args],
        cwd=copy,
        env={**CLEAN, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_dotenv_in_the_project_root_and_the_shells_variables_never_reach_the_tests(tmp_path):
    copy = project_copy(tmp_path)
    (copy / ".env").write_text("".join(f"{k}={v}\n" for k, v in BOGUS.items()))
    probe = PROBE.format(bogus=BOGUS)
    # A developer's shell: real paths, .env on, dbt's target inside the checkout.
    shell = {**BOGUS, "WAREHOUSE_DOTENV": "1", "DBT_TARGET_PATH": str(copy / "dbt_project" / "target")}
    isolated = run_session(copy, probe, env=shell)
    assert isolated.returncode == 0, isolated.stdout[-3000:] + isolated.stderr[-2000:]
    leaky = run_session(copy, probe, "--noconftest", env=shell)  # without the conftest: caught
    assert leaky.returncode != 0 and "test_nothing_real_reaches_the_tests" in leaky.stdout
    leaky = run_session(copy, probe, "--noconftest")  # the root .env alone: caught too
    assert leaky.returncode != 0 and "test_nothing_real_reaches_the_tests" in leaky.stdout


WRITES_TARGET = """
from orchestration.settings import DBT_PROJECT_DIR


def test_writes_into_the_checkouts_dbt_target():
    (DBT_PROJECT_DIR / "target").mkdir(exist_ok=True)
    (DBT_PROJECT_DIR / "target" / "stray.json").write_text("{}")
"""

PREPARES_DBT = """
from orchestration.dbt_project import dbt_project, prepare
from orchestration.settings import DBT_PROJECT_DIR, Settings


def test_the_manifest_is_prepared_outside_the_checkout():
    project = prepare(dbt_project(Settings.load()))
    assert project.manifest_path.exists()
    assert DBT_PROJECT_DIR not in project.manifest_path.parents
"""


def test_nothing_is_written_into_the_checkouts_dbt_target(tmp_path):
    copy = project_copy(tmp_path)
    target = copy / "dbt_project" / "target"
    done = run_session(copy, PREPARES_DBT)  # dbt parse runs, in the session's own directory
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert not target.exists()
    done = run_session(copy, WRITES_TARGET)  # a test that writes there fails the session
    assert done.returncode != 0 and "the tests wrote into the checkout" in done.stdout, done.stdout[-3000:]
