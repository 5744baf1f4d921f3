"""Fit the simulated Jetson's Calibration to the published Orin figures, and regenerate the
tables and plot of docs/simulator.md from it.

    python -m edge_runtime.sim.calibration_fit               # fit; print coefficients + errors
    python -m edge_runtime.sim.calibration_fit --markdown    # the docs tables, current defaults
    python -m edge_runtime.sim.calibration_fit --write-docs  # rewrite them in docs/simulator.md
    python -m edge_runtime.sim.calibration_fit --plot docs/img/simulator_calibration.png

(``python -m edge_runtime.sim.calibration_report`` is the same command.) The fit is a weighted
least squares on log(predicted / measured) over the figures of
:func:`~edge_runtime.sim.calibration_report.calibration_report` (each figure's ``weight``;
weight 0 = check only), solved with a small Nelder-Mead in numpy (scipy is not a dependency):
first the latency coefficients on the latency and throughput figures, then the power
coefficients on the power and perf-per-watt figures with the latency fixed (a joint pass would
let the loosely modelled perf-per-watt ratios bend the latency fit). Paste the printed values
into ``Calibration``'s defaults in ``edge_runtime/sim/device_model.py``, then ``--write-docs``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from edge_runtime.sim.calibration_render import markdown_table, render_plot
from edge_runtime.sim.calibration_report import (
    ReferenceResult,
    calibration_report,
    excluded_figures,
)
from edge_runtime.sim.device_model import DEFAULT_CALIBRATION, Calibration
from edge_runtime.sim.reference_models import (
    REFERENCE_MODELS,
    parameter_count,
    reference_cost,
    reference_model,
)

Vector = npt.NDArray[np.float64]

#: Coefficients the fit moves, with their range: None = any positive value (fitted in log
#: space), a number = between 0 and that number (fitted through a scaled logistic).
LATENCY_PARAMS: dict[str, float | None] = {
    "gpu_peak_efficiency": 1.0, "gpu_fp16_peak_efficiency": 1.0,
    "gpu_tf32_peak_efficiency": 1.0, "gpu_half_fill_channels": None,
    "gpu_half_fill_positions": None, "gpu_memory_efficiency": 0.9, "gpu_layer_overhead_s": None,
    "gpu_stream_launch_s": None, "gpu_launch_overhead_s": None,
    "python_inference_overhead_s": None,
    "gpu_inference_overhead_s": None, "dla_peak_efficiency": 1.0, "dla_fill_macs": None,
    "dla_memory_efficiency": 0.9, "dla_layer_overhead_s": None,
    "dla_inference_overhead_s": None, "dla_sparse_speedup": None,
}
POWER_PARAMS: dict[str, float | None] = {
    "idle_w": None, "idle_w_per_online_cpu": None, "cpu_w_per_core_ghz": None,
    "gpu_leak_w_per_sm": None, "gpu_w_per_sm_ghz": None, "dla_w_per_ghz": None,
    "emc_w_per_ghz": None, "min_voltage_ratio": 1.0,
}
#: Weak priors (value, weight on the squared log deviation) for coefficients the figures barely
#: constrain, so that the fit does not push them to 0 or infinity: a kernel's cost on the device
#: inside a CUDA graph is about 2 us; launching a kernel costs the CPU about 5 us (a driver
#: call; the figures cannot tell it from the GPU's side of a launch, which hides it); a
#: tensor-core layer needs about 8 output channels (one MMA instruction's width, n8) to be half
#: full; the DLA needs some 1M MACs per layer before it fills; an idle A78AE core draws roughly
#: 0.15 W. The reduction depth (32 bytes per MMA), the TF32 rate (half of FP16) and the bus
#: width memory power scales with are hardware facts and are not fitted.
PRIORS: dict[str, tuple[float, float]] = {
    "gpu_layer_overhead_s": (2e-6, 0.02), "gpu_launch_overhead_s": (5e-6, 0.02),
    "gpu_half_fill_channels": (8.0, 0.02), "dla_fill_macs": (1e6, 0.02),
    "idle_w_per_online_cpu": (0.15, 0.02),
}
LATENCY_GROUPS = frozenset({"gpu", "dla", "gpu+dla"})
POWER_GROUPS = frozenset({"power", "perf/W"})
DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"
BEGIN = "<!-- BEGIN GENERATED: python -m edge_runtime.sim.calibration_fit --markdown -->"
END = "<!-- END GENERATED -->"


def _write(text: str, stream: TextIO = sys.stdout) -> None:
    stream.write(text + "\n")
    stream.flush()


def _encode(value: float, top: float | None) -> float:
    if top is None:
        return math.log(value)
    share = min(max(value / top, 1e-6), 1.0 - 1e-6)
    return math.log(share / (1.0 - share))


def _decode(value: float, top: float | None) -> float:
    return math.exp(value) if top is None else top / (1.0 + math.exp(-value))


def objective(calibration: Calibration, groups: frozenset[str],
              params: Sequence[str] = ()) -> float:
    """Weighted sum of squared log errors over the fitted figures of ``groups``, plus the
    priors of ``params``."""
    total = 0.0
    for result in calibration_report(calibration):
        if result.weight and result.group in groups:
            total += result.weight * math.log(result.predicted / result.measured) ** 2
    for name in params:
        if name in PRIORS:
            value, weight = PRIORS[name]
            total += weight * math.log(getattr(calibration, name) / value) ** 2
    return total


def nelder_mead(f: Callable[[Vector], float], x0: Vector, step: float = 0.3,
                iterations: int = 3000, tolerance: float = 1e-9) -> tuple[Vector, float]:
    """Minimise ``f`` from ``x0`` (adaptive coefficients of Gao & Han for higher dimensions)."""
    n = len(x0)
    alpha, gamma, rho, sigma = 1.0, 1.0 + 2.0 / n, 0.75 - 1.0 / (2 * n), 1.0 - 1.0 / n
    simplex = np.vstack([x0] + [x0 + step * np.eye(n)[i] for i in range(n)])
    values = np.array([f(x) for x in simplex])
    for _ in range(iterations):
        order = np.argsort(values)
        simplex, values = simplex[order], values[order]
        if values[-1] - values[0] < tolerance * (1.0 + abs(values[0])):
            break
        centroid = simplex[:-1].mean(axis=0)
        reflected = centroid + alpha * (centroid - simplex[-1])
        f_r = f(reflected)
        if f_r < values[0]:
            expanded = centroid + gamma * (reflected - centroid)
            f_e = f(expanded)
            simplex[-1], values[-1] = (expanded, f_e) if f_e < f_r else (reflected, f_r)
        elif f_r < values[-2]:
            simplex[-1], values[-1] = reflected, f_r
        else:
            outside = f_r < values[-1]
            target = reflected if outside else simplex[-1]
            contracted = centroid + rho * (target - centroid)
            f_c = f(contracted)
            if f_c < min(f_r, values[-1]):
                simplex[-1], values[-1] = contracted, f_c
            else:
                simplex[1:] = simplex[0] + sigma * (simplex[1:] - simplex[0])
                values[1:] = [f(x) for x in simplex[1:]]
    best = int(np.argmin(values))
    return simplex[best], float(values[best])


def fit(start: Calibration, params: dict[str, float | None], groups: frozenset[str],
        restarts: int = 4, log: bool = True) -> Calibration:
    """Nelder-Mead over ``params`` (restarted from its own best point) on ``groups``."""
    names = list(params)

    def build(x: Vector) -> Calibration:
        return dataclasses.replace(start, **{n: _decode(v, params[n]) for n, v in zip(
            names, x.tolist(), strict=True)})

    def f(x: Vector) -> float:
        try:
            return objective(build(x), groups, names)
        except (OverflowError, ZeroDivisionError, ValueError):
            return math.inf

    x = np.array([_encode(getattr(start, n), params[n]) for n in names])
    best = math.inf
    for attempt in range(restarts):
        x, value = nelder_mead(f, x, step=0.4 / (attempt + 1))
        if log:
            _write(f"  {'+'.join(sorted(groups))}: pass {attempt + 1}, objective {value:.5f}",
                   sys.stderr)
        if best - value < 1e-6:
            break
        best = value
    return build(x)


def fit_calibration(start: Calibration = DEFAULT_CALIBRATION, log: bool = True) -> Calibration:
    """The whole fit: latency coefficients first, then power with the latency fixed."""
    calibration = fit(start, LATENCY_PARAMS, LATENCY_GROUPS, log=log)
    return fit(calibration, POWER_PARAMS, POWER_GROUPS, log=log)


def _literal(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, scientific (``1.995e-4``) below 0.001 or from 100000."""
    if value and not 1e-3 <= abs(value) < 1e5:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{value:.{digits}g}"


def calibration_source(calibration: Calibration) -> str:
    """The fitted coefficients as ``name: float = value`` lines for ``Calibration``."""
    lines = []
    for field in dataclasses.fields(Calibration):
        if field.name in LATENCY_PARAMS or field.name in POWER_PARAMS:
            lines.append(f"    {field.name}: float = "
                         f"{_literal(getattr(calibration, field.name))}")
    return "\n".join(lines)


def error_table(results: list[ReferenceResult]) -> str:
    rows = [f"{'error':>8} {'bound':>6} {'w':>4}  {'measured':>10} {'predicted':>10} "
            f"{'unit':9} figure"]
    for r in results:
        flag = " " if r.within_bound else "!"
        rows.append(f"{r.relative_error:+8.1%}{flag}{r.bound:5.0%} {r.weight:4g}  "
                    f"{r.measured:10.4g} {r.predicted:10.4g} {r.unit:9} {r.figure}")
    return "\n".join(rows)


def markdown(results: list[ReferenceResult]) -> str:
    """The generated sections of docs/simulator.md: coefficients, reference networks, figures."""
    out = ["### Coefficients (`DEFAULT_CALIBRATION`)", "",
           "| coefficient | value | fitted |", "|---|---:|---|"]
    for field in dataclasses.fields(Calibration):
        fitted = field.name in LATENCY_PARAMS or field.name in POWER_PARAMS
        prior = f", prior {_literal(PRIORS[field.name][0])}" if field.name in PRIORS else ""
        out.append(f"| `{field.name}` | {_literal(getattr(DEFAULT_CALIBRATION, field.name), 5)} | "
                   f"{'yes' + prior if fitted else 'no (fixed)'} |")
    out += ["", "### Reference networks", "",
            "| network | GMACs | published GMACs | error | params (M) | published params (M) "
            "| source of the published figure |", "|---|---:|---:|---:|---:|---:|---|"]
    for name, ref in REFERENCE_MODELS.items():
        gmacs = reference_cost(name).total_macs / 1e9
        params = parameter_count(reference_model(name)) / 1e6
        published = "—" if ref.published_gmacs is None else f"{ref.published_gmacs:.3f}"
        error = "—" if ref.published_gmacs is None else f"{gmacs / ref.published_gmacs - 1:+.2%}"
        mparams = "—" if ref.published_mparams is None else f"{ref.published_mparams:.2f}"
        out.append(f"| {ref.title} (`{name}`) | {gmacs:.3f} | {published} | {error} | "
                   f"{params:.2f} | {mparams} | {ref.published_source} |")
    out += ["", "### Published figures", "", markdown_table(results), "",
            f"{len(results)} figures, {sum(not r.within_bound for r in results)} outside "
            "their bound.", "", "### Published figures the simulator does not predict", ""]
    out += [f"- {e.figures} (`{e.source}`): {e.reason}" for e in excluded_figures()]
    return "\n".join(out)


def write_docs(results: list[ReferenceResult], path: Path = DOCS) -> bool:
    """Replace the generated part of docs/simulator.md; True if it changed."""
    text = path.read_text("utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{BEGIN}\n{markdown(results)}\n{END}{tail}"
    if updated != text:
        path.write_text(updated, "utf-8")
    return updated != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--markdown", action="store_true",
                        help="print the docs tables for the current defaults (no fit)")
    parser.add_argument("--write-docs", action="store_true",
                        help="rewrite the generated part of docs/simulator.md (no fit)")
    parser.add_argument("--plot", metavar="PNG", help="write predicted vs published (no fit)")
    args = parser.parse_args(argv)
    if args.markdown or args.plot or args.write_docs:
        results = calibration_report()
        if args.markdown:
            _write(markdown(results))
        if args.write_docs:
            changed = write_docs(results)
            _write(f"{DOCS}: {'updated' if changed else 'already current'}", sys.stderr)
        if args.plot:
            written = render_plot(results, args.plot)
            _write(f"wrote {written}" if written else "matplotlib is not installed", sys.stderr)
        return 0

    calibration = fit_calibration()
    results = calibration_report(calibration)
    _write("# fitted coefficients (paste into Calibration in edge_runtime/sim/device_model.py)")
    _write(calibration_source(calibration) + "\n")
    _write(error_table(results))
    outside = [r for r in results if not r.within_bound]
    _write(f"\n{len(results)} figures, {len(outside)} outside their bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
