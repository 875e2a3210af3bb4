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
    it refused; `factory:package.module:function` loads the factory the user names; a checkpoint name is one plain file name (no '/', '..' or leading dot)."""
    from explorer.checkpoints import factory, locate
    from explorer.checkpoints.catalog import default_root

    root = default_root()
    for attr in ("checkpoint", "classifier"):
        value = getattr(args, attr, None)
        if value and value.startswith(factory.CLI_PREFIX):  # naming it here is the user's trust
            setattr(args, attr, str(factory.factory_folder(factory.check_name(value[len(factory.CLI_PREFIX):]))))
        elif value:
            setattr(args, attr, str(locate(value, root)))
    name = getattr(args, "name", None)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,99}", name):
        raise UserError(f"--name {name!r} must be a plain name (letters, digits, '.', '_', '+', '=', '-'; "
                        "no '/' or '..'), like vae-16d")
