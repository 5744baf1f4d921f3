"""The base every config model shares: unknown keys are errors, values are immutable, numbers
are finite (YAML's ``.inf`` and ``.nan`` pass ``gt=0`` and ``ge=0`` checks, and an infinite
rate or a NaN deadline would hang or crash the scheduler long after loading)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Strict, frozen, documented by attribute docstrings (they become the config reference)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
        allow_inf_nan=False,
    )
