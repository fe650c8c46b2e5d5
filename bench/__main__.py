"""python -m bench <command> [options]: benchmarks against PostgreSQL (see bench/__init__.py).

Commands register in COMMANDS: a name, a one-line help, a function adding its options to an
argparse parser, and the function that runs it (it receives the parsed arguments).
"""

from __future__ import annotations

import argparse
import sys

from bench import search

COMMANDS = {
    "search": search.COMMAND,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
