"""The dbt project handle: `DbtProject`, how its manifest is prepared, and where each build writes.

- `dbt_project(settings)`: the project with its target path (`DBT_TARGET_PATH`, default
  `dbt_project/target`), where the manifest Dagster loads lives.
- `prepare(project)`: what the entry points call before they build the definitions (nothing runs at import).
  It parses only when the manifest is not current: its stamp (`manifest.stamp.json` beside it, written after
  a successful parse) records a hash of the dbt project's files, the dbt-core and dbt-duckdb versions and
  the parse's vars that shape the manifest, and differs from today's (a fresh clone, an edited model, an
  upgrade, another warehouse name). Content, not mtimes: a checkout or a copy that rewrites every file
  leaves an unchanged project current, and an edit is seen under `dagster dev` too, so it parses no more
  on every load. The check reads the project's ~100 small files (a few ms). Parsing runs `dbt parse` (~5 s)
  into a private temporary directory and moves the manifest into place atomically, so concurrent loads
  never read a half-written file. `dbt parse` does not open the warehouse; it renders the settings'
  warehouse path, so the partial parse it leaves in that warehouse's build directory (below) spares its
  first build a full parse. `warehouse prepare` (`make install`) parses ahead of time.
- `build_target_path(project, warehouse)`: each warehouse's builds run in their own directory under the
  target path, always the same one. dbt keeps its `partial_parse.msgpack` there, so the next build on that
  warehouse re-parses only what changed (dbt discards it when the rendered profile, i.e. the warehouse
  path, differs, so one directory per warehouse keeps it valid); the warehouse lock held around every
  build means one build per directory at a time.
- `dbt_parse(project, out_dir, warehouse)`: one `dbt parse` into a directory of the caller's (the preparer
  above, and the semantic layer's `semantic_manifest.json` in orchestration/metrics.py).
- `dbt_vars(warehouse, timezone)`: the warehouse reaches dbt's profile as `--vars {"warehouse_path": ...}`;
  `profiles.yml` falls back to `WAREHOUSE_PATH` for dbt run by hand. `warehouse_timezone` (WAREHOUSE_TIMEZONE)
  goes the same way; the models fall back to the env variable, then UTC.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version as package_version
from pathlib import Path

from dagster_dbt import DbtProject, DbtProjectPreparer
from dagster_shared.record import replace as replace_record

from orchestration.settings import DBT_PROJECT_DIR, WORKDAY_HOURS, Settings

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
BUILDS_DIR = "builds"  # under the target path: one directory per warehouse
# `dbt parse` renders profiles.yml but never connects: any path will do.
PARSE_PLACEHOLDER = str(Path(tempfile.gettempdir()) / "dbt-parse-placeholder.duckdb")
SEMANTIC_MANIFEST_FILE = "semantic_manifest.json"  # the parse's MetricFlow artifact (orchestration/metrics.py)
STAMP_SUFFIX = ".stamp.json"  # manifest.json -> manifest.stamp.json, beside it
PROJECT_FILES = (".sql", ".yml", ".yaml", ".csv", ".md")  # what dbt parse reads of the project
STAMPED_PACKAGES = ("dbt-core", "dbt-duckdb")  # another version may write another manifest


def dbt_executable() -> str:
    """The dbt CLI of this interpreter's environment (works without an activated venv)."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def dbt_vars(warehouse_path: str | Path, timezone: str | None = None, workday_hours: float | None = None) -> list[str]:
    """CLI arguments that point dbt's profile at the warehouse file and give the models WAREHOUSE_TIMEZONE
    (the zone of users without a profile zone; dbt_project.yml falls back to the env, then UTC) and, when
    not the default 8, WAREHOUSE_WORKDAY_HOURS (the models fall back to the env, then 8)."""
    values: dict = {"warehouse_path": str(warehouse_path)}
    if timezone:
        values["warehouse_timezone"] = timezone
    if workday_hours is not None and workday_hours != WORKDAY_HOURS:
        values["warehouse_workday_hours"] = workday_hours
    return ["--vars", json.dumps(values)]


class AtomicParsePreparer(DbtProjectPreparer):
    """`dbt parse` into a private temporary directory, then the manifest moved into place atomically.

    dagster-dbt's own preparer parses in place: under `dagster dev` every step process of a run loads the
    code location (and re-parses), so one could read the manifest while another writes it.
    """

    def __init__(
        self, warehouse_path: str | Path | None = None, timezone: str | None = None, workday_hours: float | None = None
    ):
        # The warehouse the definitions are built for: the parse renders its profile, so the partial parse
        # it leaves is valid for that warehouse's first build (with a placeholder path, dbt discards it and
        # the first build parses everything again: "Unable to do partial parsing because profile has changed").
        self.warehouse_path = warehouse_path
        self.timezone = timezone  # the build's vars too: a parse with other vars is discarded the same way
        self.workday_hours = workday_hours

    def prepare_if_dev(self, project: DbtProject) -> None:
        # dagster-dbt's re-parse on every `dagster dev` load: the stamp sees an edit without it.
        if self.using_dagster_dev() and manifest_is_stale(project):
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        target_dir = project.project_dir / project.target_path
        target_dir.mkdir(parents=True, exist_ok=True)
        stamp = parse_stamp(project)  # of the files this parse reads: an edit during it parses again
        # A parse that fails must leave no stamp, or the manifest before it would pass for current.
        stamp_path(project.manifest_path).unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(dir=target_dir, prefix=".parse-") as tmp:
            result = dbt_parse(
                project,
                Path(tmp),
                self.warehouse_path or PARSE_PLACEHOLDER,
                timezone=self.timezone,
                workday_hours=self.workday_hours,
            )
            if result.returncode != 0:
                raise RuntimeError(f"dbt parse failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
            os.replace(Path(tmp) / "manifest.json", project.manifest_path)
            semantic = Path(tmp) / SEMANTIC_MANIFEST_FILE
            if semantic.exists():  # `warehouse metrics` needs no parse of its own then
                os.replace(semantic, target_dir / SEMANTIC_MANIFEST_FILE)
                write_stamp(target_dir / SEMANTIC_MANIFEST_FILE, stamp)
            parsed = Path(tmp) / PARTIAL_PARSE_FILE
            if parsed.exists() and self.warehouse_path is not None:
                # where this warehouse's builds run: its next build starts from this parse
                build_dir = build_target_path(project, self.warehouse_path)
                build_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(parsed, Path(tmp) / "partial_parse.copy")
                os.replace(Path(tmp) / "partial_parse.copy", build_dir / PARTIAL_PARSE_FILE)
            if parsed.exists():  # dagster-dbt seeds a first build in another directory with it
                os.replace(parsed, target_dir / PARTIAL_PARSE_FILE)
        write_stamp(project.manifest_path, stamp)


def dbt_parse(
    project: DbtProject,
    out_dir: Path,
    warehouse_path: str | Path = PARSE_PLACEHOLDER,
    executable: str | None = None,
    timezone: str | None = None,
    workday_hours: float | None = None,
) -> subprocess.CompletedProcess:
    """`dbt parse` of the project with its artifacts and logs in `out_dir` (the profile pointed at
    `warehouse_path`, which names the relations in the manifests; parse never opens it)."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}  # the subprocess's own environment
    return subprocess.run(
        [
            executable or dbt_executable(),
            "parse",
            "--quiet",
            "--project-dir",
            str(project.project_dir),
            "--profiles-dir",
            str(project.profiles_dir),
            "--target-path",
            str(out_dir),
            "--log-path",
            str(out_dir),
            *dbt_vars(warehouse_path, timezone, workday_hours),
        ],
        cwd=project.project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def dbt_project(settings: Settings, project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """The project (`project_dir`: the checkout's dbt_project/, or a copy of it) for `settings`."""
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir, target_path=settings.dbt_target_path)
    # DbtProject takes no preparer argument (dagster-dbt 0.29): swap ours in on the record
    # (tests/test_dbt_project.py fails if an upgrade breaks this).
    return replace_record(
        project, preparer=AtomicParsePreparer(settings.warehouse_path, settings.timezone, settings.workday_hours)
    )


def project_digest(project: DbtProject) -> str:
    """A hash of the dbt project's files (names and contents; not target/, logs/, dbt_packages/)."""
    skip = {
        (project.project_dir / project.target_path).resolve(),
        (project.project_dir / "logs").resolve(),
        (project.project_dir / "dbt_packages").resolve(),
    }
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(project.project_dir):
        dirs[:] = sorted(d for d in dirs if Path(root, d).resolve() not in skip and not d.startswith("."))
        for name in sorted(f for f in files if f.endswith(PROJECT_FILES)):
            path = Path(root, name)
            digest.update(path.relative_to(project.project_dir).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def parse_stamp(project: DbtProject) -> dict:
    """What a parse of `project` depends on (see the module docstring): equal stamps, equal manifests."""
    preparer = project.preparer
    warehouse = getattr(preparer, "warehouse_path", None) or PARSE_PLACEHOLDER
    return {
        "project_files": project_digest(project),
        "packages": {name: package_version(name) for name in STAMPED_PACKAGES},
        # dbt-duckdb names the database of every relation in the manifest after the warehouse file's stem.
        "vars": {"database": Path(warehouse).stem},
    }


def stamp_path(artifact: Path) -> Path:
    """Where the stamp of a parse's artifact (manifest.json, semantic_manifest.json) is kept: beside it."""
    return artifact.with_name(artifact.name.removesuffix(".json") + STAMP_SUFFIX)


def write_stamp(artifact: Path, stamp: dict) -> None:
    """Record `stamp` for `artifact` after a successful parse (atomically: a reader sees it whole or not)."""
    path = stamp_path(artifact)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".stamp-", suffix=".json", delete=False) as f:
        json.dump(stamp, f, indent=2, sort_keys=True)
    os.replace(f.name, path)


def manifest_is_stale(project: DbtProject, manifest: Path | None = None) -> bool:
    """True when the manifest (default: dbt's manifest.json; or another artifact of a parse, such as
    semantic_manifest.json) is missing or its stamp is not today's (`parse_stamp`)."""
    manifest = project.manifest_path if manifest is None else manifest
    try:
        recorded = json.loads(stamp_path(manifest).read_text())
    except (OSError, ValueError):
        return True
    return not manifest.exists() or recorded != parse_stamp(project)


def prepare(project: DbtProject) -> DbtProject:
    """Make sure the manifest is there and current (see the module docstring); returns the project."""
    if manifest_is_stale(project):
        project.preparer.prepare(project)
    return project


def build_target_path(project: DbtProject, warehouse_path: str | Path) -> Path:
    """The directory every `dbt build` on this warehouse runs in (named after the file, plus a hash)."""
    warehouse = Path(warehouse_path).expanduser().resolve()
    digest = hashlib.sha256(str(warehouse).encode()).hexdigest()[:10]
    return project.project_dir / project.target_path / BUILDS_DIR / f"{warehouse.stem}-{digest}"
