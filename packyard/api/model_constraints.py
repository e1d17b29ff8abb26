"""The constraints botocore's models put on a string or a number (enum, length, value range,
pattern), said in AWS's words, for the surfaces whose input botocore validates server-side
(IAM, STS, KMS): each raises its own protocol's ValidationError with the sentence this gives.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape


def broken_constraint(shape: Shape, value: Any) -> str | None:
    """The constraint of ``shape`` that ``value`` breaks (a string or a number; other types
    have none of their own), or None."""
    meta = shape.metadata
    if shape.type_name == "string":
        if "enum" in meta and value not in meta["enum"]:
            return f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
        if "min" in meta and len(value) < meta["min"]:
            return f"Member must have length greater than or equal to {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            return f"Member must have length less than or equal to {meta['max']}"
        pattern = compiled_pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and pattern.fullmatch(value) is None:
            return f"Member must satisfy regular expression pattern: {meta['pattern']}"
    elif shape.type_name in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            return f"Member must have value greater than or equal to {meta['min']}"
        if "max" in meta and value > meta["max"]:
            return f"Member must have value less than or equal to {meta['max']}"
    return None


@lru_cache(maxsize=256)
def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; None for Java-only syntax such as ``\\p{L}``."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None
