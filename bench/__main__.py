"""python -m bench [<command> [options]]: benchmarks against PostgreSQL (see bench/__init__.py).

With no command, every command runs with its defaults, each in a process of its own (so one
benchmark's memory and caches never count against the next). Commands register in COMMANDS: a name, a one-line help, a function adding its options to an
argparse parser, and the function that runs it (it receives the parsed arguments).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench import billing, load, price_check, price_index, refresh, request_cpu, search, serialize

COMMANDS = {
    "search": search.COMMAND,
    "refresh": refresh.COMMAND,
    "serialize": serialize.COMMAND,
    "billing": billing.COMMAND,
    "price-check": price_check.COMMAND,
    "price-index": price_index.COMMAND,
    "load": load.COMMAND,
    "request-cpu": request_cpu.COMMAND,
}


def run_all() -> int:
    failed = [
        name
        for name in COMMANDS
        if subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode
    ]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="command")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        return run_all()
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
