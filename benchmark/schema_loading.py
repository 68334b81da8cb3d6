"""Sweep files, presets and suites: TOML text or a file path or a preset name -> validated `Sweep`s."""
from __future__ import annotations

import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from benchmark.schema_checks import PRESET_SUFFIX, SUITE_KEY, SUITE_KEYS, SweepError, _refuse_unknown
from benchmark.schema_parsing import sweep_from_dict
from benchmark.schema_records import Sweep

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


# ----------------------------------------------------------------------------- sweeps and suites

def load_sweep(reference: str | Path, *, check_estimators: bool = True) -> Sweep:
    """Read a sweep from a TOML file path or the name of a shipped preset.

    Args:
      reference: a path to a `.toml` file, or a preset name (`mgbench list` shows them).
      check_estimators: also validate against the estimator registry (`Sweep.check`).
    Raises:
      SweepError: the file is missing, not TOML, not a valid sweep, or a suite.
    """
    path = _resolve_reference(reference)
    text, data = _read_toml(path)
    if SUITE_KEY in data:
        raise SweepError(f"sweep: {str(reference)!r} is a suite of sweeps ({', '.join(map(str, data[SUITE_KEY]))}); "
                         f"load it with load_sweeps")
    sweep = replace(sweep_from_dict(data, source=str(path)), text=text)
    if check_estimators:
        sweep.check()
    return sweep


def load_sweeps(reference: str | Path, *, check_estimators: bool = True) -> list[Sweep]:
    """The sweeps of a sweep file, a preset, or a suite.

    A suite is a TOML file with only `name`, `description` and `sweeps`, a non-empty list of
    sweep files (relative to the suite's directory) or preset names, run one after another.
    """
    path = _resolve_reference(reference)
    _, data = _read_toml(path)
    if SUITE_KEY not in data:
        return [load_sweep(path, check_estimators=check_estimators)]
    _refuse_unknown("", data, SUITE_KEYS)
    members = data[SUITE_KEY]
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise SweepError(f"sweeps: expected a non-empty list of sweep files or preset names, got {members!r}")
    sweeps = []
    for member in members:
        local = path.parent / member
        sweeps.append(load_sweep(local if local.is_file() else member, check_estimators=check_estimators))
    names = [sweep.name for sweep in sweeps]
    if len(set(names)) != len(names):
        raise SweepError(f"sweeps: expected sweeps with distinct names, got {names}")
    return sweeps


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file and its parsed data."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweepError(f"sweep: cannot read {str(path)!r} ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SweepError(f"sweep: {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {path} is not valid TOML ({error})") from None


def parse_sweep(text: str, *, source: str = "<string>") -> Sweep:
    """Parse and structurally validate the TOML text of a sweep (see `benchmark.schema`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {source} is not valid TOML ({error})") from None
    return replace(sweep_from_dict(data, source=source), text=text)


# ----------------------------------------------------------------------------- presets

def preset_directory() -> Path:
    """The directory of the preset sweeps shipped with the package."""
    return Path(str(resources.files("benchmark") / "presets"))


def available_presets() -> dict[str, Path]:
    """`{preset name: path}` of every shipped preset sweep, sorted by name."""
    directory = preset_directory()
    return {path.stem: path for path in sorted(directory.glob(f"*{PRESET_SUFFIX}"), key=lambda path: path.stem)}


def preset_description(name: str) -> str:
    """A preset's `description` (read without validating the sweep); suites name their sweeps."""
    path = available_presets()[name]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        return f"(unreadable: {error})"
    description = str(data.get("description", ""))
    if isinstance(data.get(SUITE_KEY), list):
        description += f" [suite: {', '.join(map(str, data[SUITE_KEY]))}]"
    return description


def _resolve_reference(reference: str | Path) -> Path:
    path = Path(reference)
    if path.is_file():
        return path
    presets = available_presets()
    if str(reference) in presets:
        return presets[str(reference)]
    if path.suffix == PRESET_SUFFIX or path.parent != Path("."):
        raise SweepError(f"sweep: no such file {str(reference)!r}")
    from estimators.registry import did_you_mean

    raise SweepError(f"sweep: expected a TOML file or a preset name{did_you_mean(str(reference), list(presets))} "
                     f"({', '.join(presets)}), got {str(reference)!r}")
