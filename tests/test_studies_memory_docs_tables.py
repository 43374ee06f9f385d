"""docs_tables: the memory page's three table blocks are table.md's sections, and stale ones are caught."""

from pathlib import Path

import pytest

from rnn_jax.errors import ConfigError
from rnn_jax.studies.memory import docs_tables

ROOT = Path(__file__).resolve().parents[1]
TABLE = "copy: results\n\n| T | x |\n| --- | --- |\n| 10 | 1 |\n\ncopy: exact ||d h_T / d x_1|| (median)\n\n| g |\n\nLoss spikes: a validation metric\n\n| s |\n"
PAGE = (
    "# page\n<!-- table: start -->\nold table\n<!-- table: end -->\n\ntext\n"
    "<!-- gradients: start -->\nold\n<!-- gradients: end -->\n<!-- spikes: start -->\n<!-- spikes: end -->\nend\n"
)


def test_the_table_is_cut_at_its_section_lines():
    parts = docs_tables.sections(TABLE)
    assert parts == {
        "table": "copy: results\n\n| T | x |\n| --- | --- |\n| 10 | 1 |",
        "gradients": "copy: exact ||d h_T / d x_1|| (median)\n\n| g |",
        "spikes": "Loss spikes: a validation metric\n\n| s |",
    }
    assert set(docs_tables.sections("copy: results\n\n| T |\n")) == {"table"}  # no gradients, no spikes yet


def test_splice_replaces_only_between_the_markers_and_is_idempotent():
    page = docs_tables.splice(PAGE, TABLE)
    assert "old" not in page and "# page\n" in page and "\ntext\n" in page and page.endswith("end\n")
    assert "<!-- spikes: start -->\nLoss spikes: a validation metric\n\n| s |\n<!-- spikes: end -->" in page
    assert docs_tables.splice(page, TABLE) == page


def test_a_section_without_markers_is_a_clear_error():
    with pytest.raises(ConfigError, match="no '<!-- spikes: start -->'"):
        docs_tables.splice(PAGE.replace("spikes", "other"), TABLE)


def test_the_committed_page_matches_the_committed_table():
    page = (ROOT / "docs" / "memory.md").read_text()
    assert docs_tables.splice(page, (ROOT / "results" / "memory" / "table.md").read_text()) == page


def test_the_command_checks_rewrites_and_reports_in_one_line(tmp_path, capsys):
    table, page = tmp_path / "table.md", tmp_path / "memory.md"
    table.write_text(TABLE)
    page.write_text(PAGE)
    args = ["--table", str(table), "--page", str(page)]
    assert docs_tables.main([*args, "--check"]) == 1 and page.read_text() == PAGE
    assert docs_tables.main(args) == 0 and "old" not in page.read_text()
    assert docs_tables.main([*args, "--check"]) == 0
    assert docs_tables.main(["--table", str(tmp_path / "missing.md"), "--page", str(page)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
