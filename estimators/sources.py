"""The one owner of code hashes: which source files a computation runs through, and their hash.

A stored number (an estimator's cell, a figure's simulation unit, a cached target) is keyed by
`code_hash` of the code that computes it, so editing any module it runs through computes it
again. The modules are found by reading import statements (those inside functions too, e.g.
the compiled kernels), never by importing a plain module: hashing must not load numba.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

ROOTS = ("mdps", "estimators")


def source_files(*origins: Callable[..., Any] | ModuleType | str,
                 roots: Iterable[str] | None = None) -> dict[str, Path]:
    """`{module name: file}` of the code the origins run through: the module of each origin (a
    function, a module or a module name) and every module of the packages `roots` (default:
    `mdps`, `estimators` and the origin's own top-level package, e.g. a plug-in's) that it
    imports, directly or through those (the imports inside functions too). A package `__init__` of a dependency is not followed (a hub: what it
    re-exports is followed where it is defined). Empty for an origin whose file cannot be read."""
    files: dict[str, Path] = {}
    for origin in origins:
        start = _origin_module(origin)
        if start is None:
            continue
        module, path = start
        followed = frozenset({*ROOTS, module.split(".")[0]} if roots is None else roots)
        pending = [(module, path)]
        while pending:
            name, file = pending.pop()
            if name in files:
                continue
            files[name] = file
            if file.name == "__init__.py" and name != module:
                continue
            for imported in _imported_modules(name, file, followed):
                if imported not in files:
                    found = _module_file(imported)
                    if found is not None:
                        pending.append((imported, found))
    return dict(sorted(files.items()))


def code_hash(*origins: Callable[..., Any] | ModuleType | str, roots: Iterable[str] | None = None) -> str:
    """16 hex digits of sha256 over `source_files(*origins, roots=roots)` (module names and bytes: the same code
    anywhere on disk gives the same hash), or over the code objects of origins whose files
    cannot be read: changes when any module they run through is edited."""
    digest = hashlib.sha256()
    files = source_files(*origins, roots=roots)
    for name, path in files.items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    for origin in origins:
        if _origin_module(origin) is None:
            code = getattr(origin, "__code__", None)
            digest.update(code.co_code if code is not None else repr(origin).encode())
    return digest.hexdigest()[:16]


def _origin_module(origin) -> tuple[str, Path] | None:
    """(module name, file) of a function, a module or a module name; None when not readable."""
    if isinstance(origin, str):
        path = _module_file(origin)
        if path is None:
            raise ValueError(f"sources: no module named {origin!r}")
        return origin, path
    try:
        path = Path(inspect.getsourcefile(origin))
    except TypeError:
        return None
    if not path.is_file():
        return None
    name = origin.__name__ if isinstance(origin, ModuleType) else getattr(origin, "__module__", None)
    return (name or path.stem), path


def _imported_modules(module: str, path: Path, roots: frozenset[str]) -> list[str]:
    """`_imported_modules_of`, read again only when the file changed (mtime or size)."""
    try:
        stat = path.stat()
    except OSError:
        return []
    return list(_imported_modules_of(module, path, roots, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=None)
def _imported_modules_of(module: str, path: Path, roots: frozenset[str], _mtime: int, _size: int) -> tuple[str, ...]:
    """The modules of the packages `roots` that a module's import statements (anywhere in the
    file) take code from (others are never resolved, so never imported):
    `import a.b` -> a.b; `from a.b import f` -> a.b; `from package import name` -> the module
    `package.name`, else the module that defines the object `name` (`from mdps import
    inner_loop` -> mdps.meta), so a package's `__init__` (a hub that imports everything) is
    not followed. Relative imports are resolved."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return ()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] in roots]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] in roots:
                names += [_defining_module(base, alias.name) for alias in node.names if alias.name != "*"]
    return tuple(name for name in names if name)


@functools.lru_cache(maxsize=None)
def _defining_module(base: str, name: str) -> str:
    """`base` when it is a plain module (`name` is one of its objects); for a package, the
    module `base.name`, else the `__module__` of the object `base.name` (the package is
    imported already by the code being hashed), else `base`. Never imports a plain module:
    hashing must not load numba through the compiled kernels."""
    spec = _find_spec(base)
    if spec is None or spec.submodule_search_locations is None:
        return base
    if _module_file(f"{base}.{name}") is not None:
        return f"{base}.{name}"
    try:
        owner = importlib.import_module(base)
    except ImportError:
        return base
    return getattr(getattr(owner, name, None), "__module__", None) or base


def _find_spec(name: str):
    """`importlib.util.find_spec(name)` (which imports the parent packages only), None when not found."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None


@functools.lru_cache(maxsize=None)
def _module_file(name: str) -> Path | None:
    """The source file of module `name`, without importing it (its parent packages are), or
    None when `name` is not a module with a `.py` file (an attribute, a compiled extension)."""
    spec = _find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)
