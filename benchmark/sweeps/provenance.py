"""What code produced a result: the installed mgbench version and the git commit of the
source tree it runs from. One owner for both, used by the store (each run's provenance row),
the sweep report's header and the bench's machine description."""
from __future__ import annotations

import shutil
import subprocess
from importlib import metadata
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]   # the folder holding mdps/, estimators/, benchmark/


def package_version() -> str:
    """The installed mgbench version ('unknown' when the package is not installed)."""
    try:
        return metadata.version("mgbench")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit(*, short: bool = False) -> str | None:
    """`HEAD` of the git checkout mgbench's code runs from, with `+dirty` when tracked files
    differ from it; None when the code does not run from a checkout (an installed wheel) or
    git is missing. `short` gives 12 hex digits instead of 40."""
    if not (SOURCE_ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    arguments = ["rev-parse", "--short=12", "HEAD"] if short else ["rev-parse", "HEAD"]
    try:
        commit = subprocess.run(["git", "-C", str(SOURCE_ROOT), *arguments], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(SOURCE_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None
