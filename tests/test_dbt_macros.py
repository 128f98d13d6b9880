"""dbt macros whose rule is worth pinning down outside a full build (rendered with Jinja, run in DuckDB)."""

from pathlib import Path

import duckdb
import jinja2
import pytest

MACROS = Path(__file__).resolve().parents[1] / "dbt_project" / "macros"


def render(macro_file: str, call: str) -> str:
    template = jinja2.Environment().from_string((MACROS / macro_file).read_text() + "{{ " + call + " }}")
    return template.render().strip()


@pytest.mark.parametrize(
    "a, b, differ",
    [
        (2_122_909.75, 2_122_909.75 + 5e-6, False),  # summation-order noise on 2.1 million hours (seen at x10)
        (2_122_909.75, 2_122_909.75 + 0.25, True),  # one 15-minute entry counted twice
        (10.0, 10.0 + 1e-7, False),
        (10.0, 10.0 + 1e-5, True),  # small totals keep the tight absolute bound
        (0.0, 0.0, False),
    ],
)
def test_hours_differ_ignores_float_noise_but_not_a_lost_or_doubled_entry(a, b, differ):
    sql = render("hours_differ.sql", "hours_differ('a', 'b')")
    (got,) = duckdb.execute(f"SELECT {sql} FROM (SELECT $a::DOUBLE AS a, $b::DOUBLE AS b)", {"a": a, "b": b}).fetchone()
    assert got is differ
