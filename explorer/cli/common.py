"""What every command shares: the one error a user caused, and the checkpoint arguments' checks."""
from __future__ import annotations

import argparse
import re

from explorer.core.errors import ExplorerError

EXIT_USAGE = 2


class UserError(ExplorerError):
    """A mistake in what was asked for; printed as one line, exit status 2."""


def check_paths(args: argparse.Namespace) -> None:
    """Checkpoint arguments: ids (digits/vae-8d) resolved in the checkpoints folder, escapes from
    it refused; a checkpoint name is one plain file name (no '/', '..' or leading dot)."""
    from explorer.checkpoints import locate
    from explorer.checkpoints.catalog import default_root

    root = default_root()
    for attr in ("checkpoint", "classifier"):
        if getattr(args, attr, None):
            setattr(args, attr, str(locate(getattr(args, attr), root)))
    name = getattr(args, "name", None)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}", name):
        raise UserError(f"--name {name!r} must be a plain name (letters, digits, '.', '_', '+', '=', '-'; "
                        "no '/' or '..'), like vae-16d")
