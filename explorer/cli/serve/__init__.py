"""Serving a class: `python -m explorer serve --replicas N --port P` runs N processes of the app
behind HAProxy, with sticky sessions by cookie, health checks, restarts and a bounded shutdown.

The parts: replicas.py starts and stops one app process (the one command line that starts the
app's server); balancer.py writes HAProxy's configuration; supervisor.py runs them all in the
foreground; memory.py caps the default count by the memory available. `make run` (one
`streamlit run`) stays the way for one person.
"""
from __future__ import annotations

import argparse
import sys

from explorer.cli.serve.errors import ServeError
from explorer.cli.serve.health import START_TIMEOUT_S
from explorer.cli.serve.memory import choose_replicas, read_available_mb
from explorer.cli.serve.supervisor import MAX_REPLICAS, default_replicas, serve

__all__ = ["START_TIMEOUT_S", "ServeError", "cmd_serve", "default_replicas", "serve"]


def cmd_serve(args: argparse.Namespace) -> int:
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    replicas, note = choose_replicas(args.replicas, default_replicas(), read_available_mb(), MAX_REPLICAS)
    if note:
        say(note)
    return serve(replicas, args.port, args.address, args.run_dir, say=say, start_timeout_s=args.start_timeout)
