"""The live status's percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.runtime.metrics import percentile


def test_status_percentiles_match_numpys() -> None:
    values = sorted(np.random.default_rng(3).exponential(0.01, 257).tolist())
    for q in (0, 1, 50, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None and percentile([0.5], 99) == 0.5
