"""The one way a benchmark gets matplotlib: headless (Agg), and optional. A benchmark's JSON
is its result and the PNG a view of it, so without matplotlib the plot is left out."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any | None:
    """``matplotlib.pyplot`` on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
