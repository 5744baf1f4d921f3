"""The calibration report as a markdown table (docs/simulator.md) and a plot (PNG)."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.sim.calibration_report import ReferenceResult


def markdown_table(results: list[ReferenceResult]) -> str:
    """The results as a Markdown table (the one in docs/simulator.md)."""
    lines = ["| figure | source | measured | predicted | unit | error | bound | fit weight |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in results:
        flag = "" if r.within_bound else " **!**"
        figure = r.figure + (f" <br><sub>{r.note}</sub>" if r.note else "")
        lines.append(f"| {figure} | `{r.source}` | {_fmt(r.measured)} | {_fmt(r.predicted)} | "
                     f"{r.unit} | {r.relative_error:+.1%}{flag} | ±{r.bound:.0%} | "
                     f"{r.weight:g} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 10 else f"{value:.2f}"


def render_plot(results: list[ReferenceResult], path: str | Path) -> Path | None:
    """Predicted vs published (log-log, one colour per group) as a PNG; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    groups = sorted({r.group for r in results})
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(13, 5.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, group in enumerate(groups):
        colour = colours[index % len(colours)]
        for fitted in (True, False):
            chosen = [r for r in results if r.group == group and (r.weight > 0) == fitted]
            if not chosen:
                continue
            style = {"color": colour} if fitted else {"facecolors": "none",
                                                      "edgecolors": colour}
            label = group if fitted else f"{group} (check, not fitted)"
            ax.scatter([r.measured for r in chosen], [r.predicted for r in chosen], s=22,
                       alpha=0.85, label=label, **style)
            ax_err.scatter([r.relative_error * 100 for r in chosen], [group] * len(chosen),
                           s=22, alpha=0.85, **style)
    low = min(min(r.measured, r.predicted) for r in results) * 0.7
    high = max(max(r.measured, r.predicted) for r in results) * 1.4
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    for factor in (0.75, 1.25):
        ax.plot([low, high], [low * factor, high * factor], color="grey", linewidth=0.6,
                linestyle="--")
    ax.set(xscale="log", yscale="log", xlabel="published", ylabel="simulated",
           title="Simulated Jetson vs published Orin figures (units vary; dashed: ±25%)")
    ax.legend(fontsize=7)
    ax_err.axvline(0, color="grey", linewidth=1)
    for edge in (-25, 25):
        ax_err.axvline(edge, color="grey", linewidth=0.6, linestyle="--")
    ax_err.set(xlabel="relative error, % (hollow: checks the fit does not see)",
               title="Error by group")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
