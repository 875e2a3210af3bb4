"""The analysis layer's error."""
from __future__ import annotations

from explorer.core.errors import ExplorerError


class AnalysisError(ExplorerError, ValueError):
    """A model that produced what no image or code can be (NaN or infinity); the message says which
    model and what to do (retrain it, or load another checkpoint)."""
