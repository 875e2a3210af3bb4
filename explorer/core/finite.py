"""Whether numbers are finite: the one test for weights, codes, images and cached arrays.

A NaN or an infinity in a model's weights or outputs makes a black or garbage image that the
CNN would still judge as if it were real; each reader tests what it takes in with these.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def non_finite_count(array: Any) -> int:
    """How many entries of `array` (numpy or torch) are NaN or infinite; 0 for integer, boolean
    and string arrays."""
    if hasattr(array, "is_floating_point"):  # a torch tensor, tested where it is (no copy to numpy)
        if not (array.is_floating_point() or array.is_complex()):
            return 0
        return int(array.numel() - array.isfinite().sum().item())
    a = np.asarray(array)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating)):
        return 0
    return int(a.size - np.count_nonzero(np.isfinite(a)))


def all_finite(*arrays: Any) -> bool:
    """True when every entry of every array is a finite number."""
    return all(non_finite_count(a) == 0 for a in arrays)
