"""The shape of the code: imports point one way (import-linter's layers contract in pyproject.toml), no
hidden function-level imports, Dagster's private API in one place, and no module that changes the
process environment."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration import partitions

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PRODUCT = ("orchestration", "assets", "benchmarks")
PROJECT_PACKAGES = ("orchestration", "assets", "sandbox", "benchmarks")
# Where each part of Dagster that is not public API is used (and tested below).
PRIVATE_API = {
    "orchestration/partitions.py": "dagster._core",
    "orchestration/dbt_project.py": "dagster_shared",
    # the SQLite event log it subclasses and the instance override (tests/test_instance_storage.py)
    "orchestration/instance_storage.py": "dagster._core",
    # the threaded executor: Dagster's step execution and execute_in_process (tests/test_executor.py)
    "orchestration/executor.py": "dagster._core",
}


def python_files(*roots: str):
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def lint_imports(root: Path):
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_contract_is_kept():
    done = lint_imports(REPO)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout[-3000:] + done.stderr


# The back-imports the layout had (issue 12) and a few more: each must break the contract.
BACK_IMPORTS = [
    ("assets/writeback.py", "def f():\n    from orchestration.definitions import build_definitions\n"),
    ("assets/writeback.py", "from orchestration.runs import first_failure\n"),
    ("orchestration/warehouse/duckdb.py", "from assets.common import raw_key\n"),
    ("orchestration/definitions.py", "from orchestration.runs import run_sync\n"),
    ("orchestration/sensors.py", "from orchestration.definitions import build_definitions\n"),
    ("orchestration/settings.py", "from orchestration.clients.errors import ApiError\n"),
    ("orchestration/warehouse/publish.py", "from orchestration.clients.http import RetryingHttp\n"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("module", "line"), BACK_IMPORTS, ids=[f"{m}: {line.split()[-3]}" for m, line in BACK_IMPORTS])
def test_a_back_import_breaks_the_contract(tmp_path, module, line):
    for name in ("orchestration", "assets"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0  # the copy keeps the contract
    with (tmp_path / module).open("a") as source:
        source.write("\n\n" + line)
    done = lint_imports(tmp_path)
    assert done.returncode != 0 and "1 broken" in done.stdout, done.stdout[-3000:]


def _function_level_imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    names = [a.name for a in inner.names]
                elif isinstance(inner, ast.ImportFrom) and inner.level == 0:
                    names = [inner.module or ""]
                else:
                    continue
                if any(n.split(".")[0] in PROJECT_PACKAGES for n in names):
                    yield inner.lineno


def test_no_function_level_import_of_a_project_module_without_a_reason():
    unexplained = []
    for path in python_files(*PRODUCT):
        lines = path.read_text().splitlines()
        for lineno in _function_level_imports(path):
            line = lines[lineno - 1]
            comment = line.partition("# noqa: PLC0415")[2].strip(" -")
            if not comment:
                unexplained.append(f"{path.relative_to(REPO)}:{lineno}: {line.strip()}")
    assert not unexplained, unexplained


def _private(module: str) -> str | None:
    """The part of Dagster that is not public API a module name belongs to (None: public)."""
    if module.startswith("dagster._"):
        return ".".join(module.split(".")[:2])  # dagster._core
    return "dagster_shared" if module.split(".")[0] == "dagster_shared" else None


def test_dagster_private_api_is_used_in_one_place_each():
    users: dict[str, set[str]] = {}
    for path in python_files(*PRODUCT):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                if _private(module):
                    users.setdefault(str(path.relative_to(REPO)), set()).add(_private(module))
    assert users == {path: {part} for path, part in PRIVATE_API.items()}


def test_dagsters_private_names_still_mean_what_the_pipeline_relies_on():
    """Fails loudly when a Dagster upgrade renames or moves them (partitions.py is the only user)."""
    assert partitions.PRIVATE_NAMES == {
        "ASSET_PARTITION_RANGE_START_TAG": "dagster/asset_partition_range_start",
        "ASSET_PARTITION_RANGE_END_TAG": "dagster/asset_partition_range_end",
        "PARTITION_NAME_TAG": "dagster/partition",
    }
    assert partitions.run_tags(dg.build_op_context()) == {}  # invoked without a run: DagsterInvalidPropertyError
    seen = {}

    @dg.asset(partitions_def=partitions.daily_partitions(partitions.dt.date(2024, 1, 1)))
    def ranged(context):
        seen["window"] = partitions.window_dates(*context.partition_time_window)
        seen["tags"] = partitions.run_window(partitions.run_tags(context))
        return dg.MaterializeResult()

    job = dg.Definitions(assets=[ranged]).resolve_implicit_global_asset_job_def()
    tags = partitions.range_tags(partitions.dt.date(2024, 3, 1), partitions.dt.date(2024, 3, 3))
    assert job.execute_in_process(tags=tags).success  # one run over a range of partitions
    assert seen["window"] == seen["tags"] == (partitions.dt.date(2024, 3, 1), partitions.dt.date(2024, 3, 3))
    single = {partitions.PARTITION_NAME_TAG: "2024-03-05"}
    assert partitions.run_window(single) == (partitions.dt.date(2024, 3, 5),) * 2


def test_no_module_changes_the_process_environment():
    writes = []
    for path in python_files("orchestration", "assets"):
        for node in ast.walk(ast.parse(path.read_text())):
            target = None
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                target = next(
                    (t for t in targets if isinstance(t, ast.Subscript) and "environ" in ast.unparse(t)), None
                )
            elif isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called.endswith(("environ.update", "environ.setdefault", "environ.pop", "putenv", "load_dotenv")):
                    target = node
            if target is not None:
                writes.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not writes, writes


def test_the_readmes_layout_names_every_module():
    """README "How it fits together" lists the tree; a module added or renamed without it fails here."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## How it fits together") : readme.index("### Raw layer")]
    missing = [
        str(path.relative_to(REPO))
        for root in ("orchestration", "assets")
        for path in sorted((REPO / root).rglob("*"))
        if path.suffix in (".py", ".html", ".graphql") and path.name != "__init__.py" and path.name not in section
    ]
    packages = [
        p.name + "/" for p in (REPO / "orchestration").rglob("*") if p.is_dir() and (p / "__init__.py").exists()
    ]
    assert not missing and all(name in section for name in packages), (missing, packages)


def test_a_sync_starts_without_importing_pandas():
    """pandas (and numpy under it: ~0.4 s on a quiet 2-core machine, 1.6 s on a busy one) comes with the first
    records staged (orchestration/warehouse/staging.py), not with the start-up of `warehouse sync`,
    `warehouse check` or the code location Dagster loads."""
    code = "import sys, orchestration.runs, orchestration.preflight, orchestration.definitions, orchestration.cli\n"
    code += "print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
