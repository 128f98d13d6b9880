"""The performance figures anyone can check: every figure in benchmarks/RESULTS.md comes from a committed
results JSON (with the commit measured, the machine and its load), and the README quotes RESULTS.md."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from benchmarks import render

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUOTE_START, QUOTE_END = render.QUOTE_START, render.QUOTE_END

# Numbers the template writes literally: targets, settings of the workload and the pipeline, and labels. A
# measured figure typed into the template would show up here and fail the test below; put it in a results
# file and a placeholder instead.
LITERAL_NUMBERS = {
    "0.1", "1", "10", "x0.1", "x1", "x10",  # workload labels (x0.1, x1, x10) and "run 1 of 3"
    "3", "2",  # "run 1 of 3", "x1-run2.json" and the like
    "400", "60", "1.5", "25", "20", "200k",  # the targets (after ≤ / ≥)
    "50", "2,500", "1,000", "250", "5,000", "20,000", "4", "8", "7",  # latency, rate limits, page sizes, windows
    "1-minute", "1 GB", "200",  # "Team of 200", the workload's name
}  # fmt: skip


def tracked(path: Path) -> bool:
    listed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path.relative_to(ROOT))], cwd=ROOT, capture_output=True
    )
    unchanged = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", str(path.relative_to(ROOT))], cwd=ROOT)
    return listed.returncode == 0 and unchanged.returncode == 0


def test_results_md_is_rendered_from_committed_results():
    results = render.Results()
    text = render.render(results)
    assert render.OUTPUT.read_text() == text, "benchmarks/RESULTS.md is out of date: run python -m benchmarks.render"
    assert len(results.read) >= 4  # x1 three times (the ranges), x10
    for name, path in results.read.items():
        assert tracked(path), f"{path} is not committed as it is: figures must come from committed results"
        data = results.load(name)
        assert re.fullmatch(r"[0-9a-f]{40}", data["commit"]["sha"]), name
        assert isinstance(data["commit"]["uncommitted_changes"], list), name
        assert data["machine"]["cpu"] and data["machine"]["cores"] >= 1 and data["machine"]["memory_gib"] > 0
        assert len(data["load"]["loadavg_start"]) == len(data["load"]["loadavg_end"]) == 3, name
        assert data.get("workloads") or data.get("measurements") or data.get("checks") or data.get("daily"), name


def test_the_flow_marts_equal_their_oracle_on_the_team_of_200():
    """The committed result of `python -m benchmarks.flow_oracle` (too slow for `make test`): every flow mart
    and both sums were compared, on the team of 200, and found equal."""
    data = render.Results().load("flow-oracle-x1")
    assert data["scale"] == 1 and data["workload"]["linear_issues"] == 20_000
    assert set(data["checks"]) == {
        "hours_per_issue_state",
        "issue_flow",
        "cycle_scope",
        "estimate_accuracy",
        "state_hours_sum_to_hours_per_issue",
        "cycle_scope_hours_sum_to_hours_per_cycle",
    }
    assert data["equal"] and all(c["equal"] for c in data["checks"].values())
    assert all(c.get("rows", c.get("issues", c.get("cycles"))) > 0 for c in data["checks"].values())


def test_results_template_types_no_measured_figure():
    template = render.TEMPLATE.read_text()
    literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", template, flags=re.S)
    literal = re.sub(r"[A-Za-z_./-]*\.(json|py|md|j2)\b", " ", literal)  # file names
    literal = re.sub(r"`[^`]*`", " ", literal)  # code: commands, settings
    numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?(?:k| GB|-minute)?", literal))
    labels = set(re.findall(r"x\d+(?:\.\d+)?", literal))
    assert numbers - LITERAL_NUMBERS - {label[1:] for label in labels} == set()


def test_readme_quotes_results_md_verbatim():
    readme = README.read_text()
    assert readme.count(QUOTE_START) == 1 and readme.count(QUOTE_END) == 1
    quoted = readme.split(QUOTE_START, 1)[1].split("\n", 1)[1].split(QUOTE_END, 1)[0]
    lines = [line for line in quoted.splitlines() if line.strip()]
    results = set(render.OUTPUT.read_text().splitlines())
    assert len(lines) >= 5 and [line for line in lines if line not in results] == []
    assert quoted == render.summary(render.OUTPUT.read_text())  # the whole summary, as it is now
    # The rest of the README's Performance section restates no figure of RESULTS.md.
    section = readme.split("## Performance", 1)[1].split("\n## ", 1)[0].replace(quoted, "")
    assert not re.search(r"\d+(\.\d+)? (s|MiB|GiB|min)\b|\*\*\d", section), section
