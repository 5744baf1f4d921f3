"""A run summary as a picture: latency and rate per pipeline and power mode, and watts per mode.

matplotlib is an optional extra (``edge-runtime[plot]``), imported only here.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edge_runtime.errors import MissingDependencyError
from edge_runtime.fileio import atomic_write_bytes
from edge_runtime.runtime.summary import RunSummary


def plot_summary(summary: RunSummary, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("matplotlib (for --plot)", "plot") from None
    modes = list(summary.modes)
    pipelines = list(summary.pipelines)
    figure, (latency_ax, rate_ax, power_ax) = plt.subplots(
        1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [3, 3, 1.4]})
    width = 0.8 / max(len(modes), 1)
    colours = {mode: plt.get_cmap("tab10")(index) for index, mode in enumerate(modes)}
    for index, mode in enumerate(modes):
        offsets = [p + (index - (len(modes) - 1) / 2) * width for p in range(len(pipelines))]
        rows = [summary.pipelines[p].get(mode, {}) for p in pipelines]
        p50 = [r.get("p50_ms") or 0.0 for r in rows]
        p99 = [r.get("p99_ms") or 0.0 for r in rows]
        latency_ax.bar(offsets, p99, width, color=colours[mode], alpha=0.35,
                       label=f"{mode} p99")
        latency_ax.bar(offsets, p50, width, color=colours[mode], label=f"{mode} p50")
        rate_ax.bar(offsets, [r.get("hz") or 0.0 for r in rows], width, color=colours[mode],
                    label=mode)
    for axis, title, unit in ((latency_ax, "latency, capture to output", "ms"),
                              (rate_ax, "achieved rate", "Hz")):
        axis.set_xticks(range(len(pipelines)), pipelines)
        axis.set_title(title)
        axis.set_ylabel(unit)
        axis.legend(fontsize="small")
    power_ax.bar(modes, [summary.modes[m]["watts"] or 0.0 for m in modes],
                 color=[colours[m] for m in modes])
    power_ax.set_title("module power (simulated)")
    power_ax.set_ylabel("W")
    figure.suptitle(f"{summary.device_name} (simulated), {summary.clock} clock, "
                    f"{summary.duration_s:.0f} s")
    save_png(figure, path)


def save_png(figure: Any, path: Path) -> None:
    """Write a matplotlib figure as a PNG, atomically (a reader never sees half a file), and
    release it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
