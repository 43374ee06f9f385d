"""The memory page's tables, copied from the sweep's `table.md` so the page never drifts from the records.

`sweep.run` writes `results/memory/table.md` in three sections: the results tables (with the papers'
figures), the gradient norms, the loss spikes. `docs/memory.md` shows each between a pair of markers,

    <!-- table: start --> ... <!-- table: end -->
    <!-- gradients: start --> ... <!-- gradients: end -->
    <!-- spikes: start --> ... <!-- spikes: end -->

and `splice` puts each section of `table.md` between its markers. After a run's report
(`rnn-jax memory --task copy --max_steps 10000 --workdir results/memory --report_only`):

    python -m rnn_jax.studies.memory.docs_tables            # rewrite docs/memory.md's three blocks
    python -m rnn_jax.studies.memory.docs_tables --check    # exit 1 if they differ from table.md

A test checks the committed page against the committed table, so a results commit without its docs fails.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from rnn_jax.errors import ConfigError
from rnn_jax.studies.memory import spikes, sweep

# section name -> how its first line starts in table.md (the results tables start the file), from the
# headings the sections' writers use
SECTION_STARTS = {
    "gradients": re.compile(rf"^\w+: {re.escape(sweep.GRADIENTS_HEADING)}", re.M),
    "spikes": re.compile(rf"^{re.escape(spikes.HEADING)}", re.M),
}


def sections(table: str) -> dict[str, str]:
    """table.md cut into its sections {"table", "gradients", "spikes"}, each without its outer blank
    lines; a section the table lacks (no spikes yet) is absent."""
    starts = {"table": 0}
    for name, pattern in SECTION_STARTS.items():
        match = pattern.search(table)
        if match:
            starts[name] = match.start()
    ordered = sorted(starts.items(), key=lambda item: item[1])
    ends = [start for _, start in ordered[1:]] + [len(table)]
    return {name: table[start:end].strip("\n") for (name, start), end in zip(ordered, ends, strict=True)}


def splice(page: str, table: str) -> str:
    """`page` with the text between each `<!-- NAME: start -->` / `<!-- NAME: end -->` pair replaced by
    table.md's section NAME. Raises ConfigError naming the markers a section of the table has no place for."""
    for name, body in sections(table).items():
        pattern = re.compile(rf"(<!-- {name}: start -->\n)(?:.*?\n)?(<!-- {name}: end -->)", re.S)
        if not pattern.search(page):
            raise ConfigError(f"the page has no '<!-- {name}: start -->' ... '<!-- {name}: end -->' markers")
        page = pattern.sub(lambda match, body=body: match.group(1) + body + "\n" + match.group(2), page)
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=Path("results/memory/table.md"))
    parser.add_argument("--page", type=Path, default=Path("docs/memory.md"))
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the page is stale")
    args = parser.parse_args(argv)
    for path in (args.table, args.page):
        if not path.is_file():
            print(
                f"error: {path} not found (run from the repository root, or pass --table / --page)",
                file=sys.stderr,
            )
            return 2
    page = args.page.read_text()
    try:
        new = splice(page, args.table.read_text())
    except ConfigError as error:
        print(f"error: {args.page}: {error}", file=sys.stderr)
        return 2
    if new == page:
        print(f"{args.page}: its tables match {args.table}")
        return 0
    if args.check:
        print(
            f"{args.page}: its tables differ from {args.table}; "
            "run python -m rnn_jax.studies.memory.docs_tables"
        )
        return 1
    args.page.write_text(new)
    print(f"{args.page}: tables rewritten from {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
