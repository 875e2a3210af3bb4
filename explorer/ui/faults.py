"""How a failure in a page reaches the reader: one wording, shared with the CLI's `error: ...` line.

Plain Python (no streamlit import): the guard in widgets.py draws what this returns.

Two kinds of failure:

- an error the project raises for something a person can fix (a broken checkpoint, a missing
  dataset, parameters a map cannot use): its message already says what was wrong and what to do,
  so the page shows it as the CLI prints it, `error: <message>`;
- anything else (a bug, a library's failure, memory running out): the page says where it broke
  and that the rest of the app still works, and the log keeps the traceback.
"""
from __future__ import annotations

from explorer.core.errors import ExplorerError, error_line
from explorer.ui.navigation import PAGES

# The errors whose message is written for a person: every layer's error subclasses this base.
PERSON_FACING: tuple[type[Exception], ...] = (ExplorerError,)

MAX_CHARS = 600  # a message longer than this is cut: a page is no place for a dump


def is_person_facing(error: BaseException) -> bool:
    return isinstance(error, PERSON_FACING)


def where(module: str, step: str) -> str:
    """The page (by its sidebar title) and step a guarded function belongs to, for the message:
    ("explorer.ui.pages.generate", "make_one") -> "Generate (make one)"."""
    file = module.removeprefix("explorer.").replace(".", "/") + ".py"
    page = next((p.title for p in PAGES if p.file == file), module.rsplit(".", 1)[-1])
    return page if step in ("render", "") else f"{page} ({step.strip('_').replace('_', ' ')})"


def page_message(error: BaseException, place: str) -> str:
    """What the page shows for `error` raised in `place` (a where() string)."""
    if is_person_facing(error):
        return error_line(error, MAX_CHARS)
    what = type(error).__name__ + (f": {_text(error, 300, first_line=True)}" if str(error).strip() else "")
    return (f"Something went wrong in {place}: {what}. "
            "The rest of the app still works: pick another checkpoint or page, or reload the page.")


def _text(error: BaseException, limit: int, first_line: bool = False) -> str:
    """The error's message (its type's name when it has none), first `limit` characters."""
    text = str(error).strip() or type(error).__name__
    text = text.splitlines()[0] if first_line else text
    return text if len(text) <= limit else text[: limit - 3] + "..."
