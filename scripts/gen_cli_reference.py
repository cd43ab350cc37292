"""Write docs/cli.md from the CLI's own --help, so the reference cannot drift.

python scripts/gen_cli_reference.py          # rewrite docs/cli.md
python scripts/gen_cli_reference.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import click

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _walk(command.commands[name], [*path, name])
    return found


def render() -> str:
    from api.cli import main

    parts = [
        "# CLI reference\n",
        "Generated from the CLI's own help by `python scripts/gen_cli_reference.py`; "
        "a test fails when it is out of date.\n",
    ]
    for path, command in _walk(main, ["dataledger"]):
        with click.Context(command, info_name=" ".join(path), terminal_width=100) as ctx:
            help_text = command.get_help(ctx)
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{help_text}\n```\n")
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that docs/cli.md is current"
    )
    args = parser.parse_args()
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_cli_reference.py", file=sys.stderr)
            sys.exit(1)
        return
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
