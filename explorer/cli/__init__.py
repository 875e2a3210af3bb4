"""`python -m explorer <command>`: train, evaluate, sample, predict, fetch-data, project.

`python -m explorer bench` is developer tooling (explorer/tooling/bench/), routed by __main__.py.
The parser is in parser.py, `train` in train.py, the other commands in commands.py.

The CLI and the app call the same functions; this package only parses arguments,
reports progress and turns errors into one clear line and a non-zero exit status.
"""
from __future__ import annotations

import sys

from explorer.cli.common import EXIT_USAGE, UserError, check_paths
from explorer.cli.parser import build_parser

__all__ = ["main", "build_parser", "UserError", "EXIT_USAGE"]


def main(argv: list[str] | None = None) -> int:
    from explorer.core.errors import ExplorerError, error_line

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the model card
    try:
        check_paths(args)
        return args.func(args)
    except ExplorerError as e:  # every layer's error: one line, what was wrong and what to do
        print(error_line(e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
