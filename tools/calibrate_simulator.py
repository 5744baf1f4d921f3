"""Fit the simulated Jetson's Calibration to the published Orin figures, and report the errors.

    python tools/calibrate_simulator.py              # fit, print coefficients + error table
    python tools/calibrate_simulator.py --markdown   # docs table for the current defaults
    python tools/calibrate_simulator.py --plot docs/img/simulator_calibration.png

The fit is a weighted least squares on log(predicted / measured) over the figures of
``edge_runtime.sim.calibration_report`` (each figure's ``weight``; weight 0 = check only), solved
with a small Nelder-Mead in numpy (scipy is not a dependency): first the latency coefficients on
the latency and throughput figures, then the power coefficients on the power and perf-per-watt
figures with the latency fixed (a joint pass would let the loosely modelled perf-per-watt
ratios bend the latency fit). Paste the printed values into ``Calibration``'s defaults in
``edge_runtime/sim/device_model.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    "gpu_peak_efficiency": 1.0, "gpu_fill_macs_per_sm": None,
    "gpu_memory_efficiency": 0.9, "gpu_layer_overhead_s": None,
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
#: constrain, so that the fit does not push them to 0 or infinity: a kernel launch inside a
#: CUDA graph costs about 2 us; a layer needs some 0.5M MACs per SM (1M on the DLA) before
#: it fills the machine; an idle A78AE core draws roughly 0.15 W. The reduction depths are
#: hardware facts (INT8 MMA k = 32, DLA INT8 atomic channels = 64) and are not fitted.
PRIORS: dict[str, tuple[float, float]] = {
    "gpu_layer_overhead_s": (2e-6, 0.02), "gpu_fill_macs_per_sm": (5e5, 0.02),
    "dla_fill_macs": (1e6, 0.02),
    "idle_w_per_online_cpu": (0.15, 0.02),
}
LATENCY_GROUPS = frozenset({"gpu", "dla", "gpu+dla"})
POWER_GROUPS = frozenset({"power", "perf/W"})


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
                iterations: int = 2000, tolerance: float = 1e-9) -> tuple[Vector, float]:
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
        restarts: int = 3) -> Calibration:
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
        print(f"  {'+'.join(sorted(groups))}: pass {attempt + 1}, objective {value:.5f}",
              file=sys.stderr)
        if best - value < 1e-6:
            break
        best = value
    return build(x)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true",
                        help="print the docs table for the current defaults (no fit)")
    parser.add_argument("--plot", metavar="PNG", help="write predicted vs published (no fit)")
    args = parser.parse_args(argv)
    if args.markdown or args.plot:
        results = calibration_report()
        if args.markdown:
            print(markdown(results))
        if args.plot:
            written = render_plot(results, args.plot)
            print(f"wrote {written}" if written else "matplotlib is not installed",
                  file=sys.stderr)
        return 0

    calibration = fit(DEFAULT_CALIBRATION, LATENCY_PARAMS, LATENCY_GROUPS)
    calibration = fit(calibration, POWER_PARAMS, POWER_GROUPS)
    results = calibration_report(calibration)
    print("# fitted coefficients (paste into Calibration in edge_runtime/sim/device_model.py)")
    print(calibration_source(calibration))
    print()
    print(error_table(results))
    outside = [r for r in results if not r.within_bound]
    print(f"\n{len(results)} figures, {len(outside)} outside their bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
