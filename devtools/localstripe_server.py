"""localstripe, the local stand-in for Stripe, bound to 127.0.0.1.

    python -m devtools.localstripe_server --port 8420

Its own command line listens on every interface and keeps its store in
/tmp/localstripe.pickle, a file every instance on the machine would share (and rewrite on
each change). Here it listens on loopback only and keeps nothing: each start is empty.
"""

from __future__ import annotations

import argparse

from aiohttp import web
from localstripe import resources, server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    resources.store.dump_to_disk = lambda: None  # throwaway: see the module's docstring
    web.run_app(server.app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
