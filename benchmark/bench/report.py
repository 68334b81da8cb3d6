"""The tables printed by `mgbench bench` (throughput, scaling, speed-up, the performance targets)
and the description of the machine they were measured on."""
from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

from benchmark.bench.autodiff import autodiff_target_lines
from benchmark.bench.cells import BenchResult
from benchmark.sweeps.provenance import git_commit

TARGET_TRANSITIONS_PER_SECOND = 5e6
TARGET_EXACT_SECONDS = 0.020
TARGET_MEMORY_BYTES = 2 * 2**30
TARGET_COMPILED_TRANSITIONS_PER_SECOND = 20e6   # compiled kernel, on the loaded |τ| = 32, K = 1 cell
TARGET_KERNEL_RATIO = 3.0                        # compiled over numpy, on every liu2022 cell


def machine_info() -> dict[str, str]:
    """Cores (`os.cpu_count`), CPU model (`lscpu`, else /proc/cpuinfo), numpy and Python versions, git commit."""
    import platform

    import numpy

    model = ""
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in output.splitlines()
                      if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    if not model and Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cores": str(os.cpu_count()), "cpu": model or platform.processor() or "unknown",
            "numpy": numpy.__version__, "python": platform.python_version(), "code": git_commit(short=True) or "unknown"}


def _si(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:.3g}"


def _megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)  # noqa: E731
                                 for i, (cell, width) in enumerate(zip(row, widths)))
    return [line(header).rstrip(), "  ".join("-" * width for width in widths).rstrip(),
            *(line(row).rstrip() for row in rows)]


def format_report(results: list[BenchResult], *, quick: bool, machine: dict[str, str] | None = None) -> str:
    """The bench tables (throughput, scaling, speed-up, targets) as printed by `mgbench bench`."""
    machine = machine_info() if machine is None else machine
    lines = [f"mgbench bench{' --quick' if quick else ''}: one thread per measurement, rates per CPU-second "
             f"(= per core)",
             f"machine: {machine['cores']} cores, {machine['cpu']}, numpy {machine['numpy']}, "
             f"Python {machine['python']}, code {machine.get('code', 'unknown')}", ""]
    measured = [r for r in results if r.cell.kind not in ("scaling", "compile")]
    rows = []
    for result in measured:
        cell = result.cell
        if result.error:
            rows.append([cell.name, str(cell.repetitions), "-", "-", "-", "-", "-", "-", "-", f"error: {result.error}"])
            continue
        note, repetitions = "", str(cell.repetitions)
        if result.speedup is not None:
            note = (f"vectorized sf (R={cell.repetitions}) {_si(result.vectorized_transitions_per_second, '/s')}: "
                    f"{result.speedup:.0f}x faster")
            repetitions = "1"
        parts = "-" if result.sampled_parts is None else f"{result.sampled_parts:.3g}"
        rows.append([cell.name, repetitions, parts, _si(result.transitions_per_second),
                     _si(result.estimates_per_second), _milliseconds(result.cpu_seconds_per_call),
                     "-" if result.cpu_per_wall is None else f"{result.cpu_per_wall:.2f}",
                     _megabytes(result.peak_memory_bytes), _megabytes(result.peak_rss_bytes), note])
    lines += _table(["cell", "R", "parts", "transitions/s", "estimates/s", "ms/call", "cpu/wall",
                     "peak MB", "RSS MB", ""], rows)
    fits = [(r.cell, fit) for r in results for fit in r.scaling]
    if fits or any(r.cell.kind == "scaling" and r.error for r in results):
        lines += ["", "scaling: fastest CPU ms per call at three values of each axis (interleaved rounds); slope of "
                      "log time vs log value (1 = linear cost), and the same slope of the sampled work"]
        rows = [[cell.name.replace("scaling ", ""), fit.axis,
                 " ".join(f"{value:g}" for value in fit.values),
                 " ".join(_milliseconds(seconds) for seconds in fit.seconds), f"{fit.slope:.2f}",
                 f"{fit.work_slope:.2f}"]
                for cell, fit in fits]
        rows += [[r.cell.name, r.cell.axis or "-", "-", f"error: {r.error}", "-", "-"]
                 for r in results if r.cell.kind == "scaling" and r.error]
        lines += _table(["cell", "axis", "values", "ms/call", "time slope", "work slope"], rows)
    pairs = kernel_pairs(results)
    if pairs:
        lines += ["", "kernels: the same cell with the numpy path and the compiled kernel (one subprocess each); "
                      "ratio = numpy CPU time / compiled CPU time"]
        rows = [[name, _si(numpy.transitions_per_second), _si(compiled.transitions_per_second),
                 f"{numpy.cpu_seconds_per_call / compiled.cpu_seconds_per_call:.2f}x",
                 _megabytes(numpy.peak_memory_bytes), _megabytes(compiled.peak_memory_bytes)]
                for name, numpy, compiled in pairs]
        lines += _table(["cell", "numpy transitions/s", "compiled transitions/s", "ratio", "numpy peak MB",
                         "compiled peak MB"], rows)
    compiles = [r for r in results if r.cell.kind == "compile"]
    if compiles:
        lines += ["", "compiled kernel, first-call cost (kept out of the timed calls: every cell warms up first):"]
        lines += [f"  {r.cell.name}: " + (f"error: {r.error}" if r.error else
                                           f"{r.seconds_per_call:.2f} s wall, {r.cpu_seconds_per_call:.2f} s CPU")
                  for r in compiles]
    lines += ["", "targets:", *target_lines(results), *kernel_target_lines(results), *bandit_target_lines(results),
              *autodiff_target_lines(results)]
    return "\n".join(lines)


def kernel_pairs(results: list[BenchResult]) -> list[tuple[str, BenchResult, BenchResult]]:
    """(cell name without the kernel, numpy result, compiled result) for every cell measured with both kernels."""
    by_name = {}
    for result in results:
        if result.cell.kind == "estimator" and result.cpu_seconds_per_call and not result.error:
            name = result.cell.name.removesuffix(f" {result.cell.kernel}")
            by_name.setdefault(name, {})[result.cell.kernel] = result
    return [(name, kernels["numpy"], kernels["compiled"]) for name, kernels in by_name.items()
            if {"numpy", "compiled"} <= kernels.keys()]


def kernel_target_lines(results: list[BenchResult]) -> list[str]:
    """The compiled kernel's targets: its rate, its ratio over numpy, its memory."""
    pairs = kernel_pairs(results)
    if not pairs:
        return ["  no cell measured with both kernels"]
    lines = []
    reference = [compiled for name, _, compiled in pairs if "lll loaded |tau|=32 K=1" in name]
    if reference:
        rate = reference[0].transitions_per_second
        lines.append(f"  >= {_si(TARGET_COMPILED_TRANSITIONS_PER_SECOND)} transitions/s on liu2022 lll loaded "
                     f"|tau|=32 K=1: {_si(rate)} -> "
                     f"{'met' if rate >= TARGET_COMPILED_TRANSITIONS_PER_SECOND else 'not met'}")
    ratios = [(name, numpy.cpu_seconds_per_call / compiled.cpu_seconds_per_call) for name, numpy, compiled in pairs
              if name.startswith("liu2022")]   # the target's cells (the lirpg cell is measured, not targeted)
    if not ratios:
        return lines
    below = [name for name, ratio in ratios if ratio < TARGET_KERNEL_RATIO]
    lines.append(f"  >= {TARGET_KERNEL_RATIO:g}x over numpy on every liu2022 cell: "
                 f"{min(r for _, r in ratios):.2f}x to {max(r for _, r in ratios):.2f}x -> "
                 + ("met in every cell" if not below else f"not met in {len(below)} of {len(ratios)}: "
                    + "; ".join(below)))
    heavier = [name for name, numpy, compiled in pairs
               if (compiled.peak_memory_bytes or 0) > (numpy.peak_memory_bytes or 0)]
    lines.append("  compiled peak memory <= numpy's in every cell -> "
                 + ("met" if not heavier else f"not met in {len(heavier)}: " + "; ".join(heavier)))
    return lines


def target_lines(results: list[BenchResult]) -> list[str]:
    """One line per performance target (docs/performance.md): the measured value and whether it is met."""
    lines = []
    liu = [r for r in results if r.cell.kind == "estimator" and r.cell.name.startswith("liu2022")
           and r.transitions_per_second is not None]
    if liu:
        rates = [r.transitions_per_second for r in liu]
        below = [r.cell.name for r in liu if r.transitions_per_second < TARGET_TRANSITIONS_PER_SECOND]
        label = "lll" if any("lll" in r.cell.name for r in liu) else "practical (loaded/dice not registered)"
        lines.append(f"  liu2022 {label} >= {_si(TARGET_TRANSITIONS_PER_SECOND)} transitions/s per core: "
                     f"{_si(min(rates))} to {_si(max(rates))} -> "
                     + ("met in every cell" if not below else f"not met in {len(below)} of {len(liu)} cells"))
    exact = [r for r in results if r.cell.kind == "exact" and r.cpu_seconds_per_call is not None]
    for result in exact:
        met = result.cpu_seconds_per_call < TARGET_EXACT_SECONDS
        lines.append(f"  exact liu2022 meta-gradient K={result.cell.steps} < {_milliseconds(TARGET_EXACT_SECONDS)} ms: "
                     f"{_milliseconds(result.cpu_seconds_per_call)} ms -> {'met' if met else 'not met'}")
    peaks = [r.peak_rss_bytes for r in results if r.peak_rss_bytes is not None]
    if peaks:
        met = max(peaks) < TARGET_MEMORY_BYTES
        lines.append(f"  no cell above 2 GB: largest process peak {_megabytes(max(peaks))} MB "
                     f"(interpreter included) -> {'met' if met else 'not met'}")
    failed = [r.cell.name for r in results if r.error]
    if failed:
        lines.append(f"  not measured ({len(failed)}): " + "; ".join(failed))
    return lines


TARGET_BANDIT_PULLS_PER_SECOND = 3e7    # compiled kernel, on the vuorio2022-bandit cells


def bandit_target_lines(results: list[BenchResult]) -> list[str]:
    """The bandit kernel's target: pulls per CPU second on the `vuorio2022-bandit` estimator cells,
    one line per cell with its measured rate and whether it meets the target (the reference
    target's estimator, with its exact continuation per step, is measured, not targeted)."""
    compiled = [r for r in results if r.cell.name.startswith("vuorio2022-bandit") and r.cell.kernel == "compiled"]
    if not compiled:
        return []
    targeted = [r for r in compiled if r.cell.estimator != "reference"]
    measured = [r for r in targeted if r.transitions_per_second]
    below = [r for r in measured if r.transitions_per_second < TARGET_BANDIT_PULLS_PER_SECOND]
    if not measured:
        verdict = "not measured"
    elif below or len(measured) < len(targeted):
        verdict = f"not met in {len(below) + len(targeted) - len(measured)} of {len(targeted)}"
    else:
        verdict = "met in every cell"
    lines = [f"  >= {_si(TARGET_BANDIT_PULLS_PER_SECOND)} pulls/s on the vuorio2022-bandit cells (compiled): {verdict}"]
    for result in compiled:
        name = result.cell.name.removeprefix("vuorio2022-bandit ").removesuffix(" compiled")
        rate = result.transitions_per_second
        if not rate:
            status = "not measured" + (f" ({result.error})" if result.error else "")
        elif result.cell.estimator == "reference":
            status = "measured, not targeted"
        else:
            status = "met" if rate >= TARGET_BANDIT_PULLS_PER_SECOND else "not met"
        lines.append(f"    {name}: {_si(rate) + ' pulls/s' if rate else '-'} -> {status}")
    return lines
