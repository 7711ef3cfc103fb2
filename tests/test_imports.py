"""The import graph of robustsk: no two modules import each other, and no module
reaches into another subpackage's private modules or names."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "robustsk"

#: modules whose private imports are tolerated for now, with why
ALLOWED_PRIVATE = {
}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _package_of(name):
    """The package a module lives in (a package's __init__ lives in itself)."""
    path = MODULES[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(importer, level, module):
    base = _package_of(importer).split(".")
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else [])) if level else module


def _imports(name):
    """``(module imported, name imported or None)`` for every robustsk import in ``name``,
    at module level or inside functions."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == "robustsk"]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, node.level, node.module)
            if source is None or source.split(".")[0] != "robustsk":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub, None) if sub in MODULES else (source, alias.name))
    return found


def _is_private(part):
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _allowed(name):
    return any(name == a or name.startswith(a + ".") for a in ALLOWED_PRIVATE)


def test_every_module_parses_and_is_found():
    assert "robustsk.attacks.runner" in MODULES and "robustsk.evaluation.masking" in MODULES


def test_no_two_modules_import_each_other():
    edges = {name: {mod for mod, _ in _imports(name) if mod in MODULES} - {name}
             for name in MODULES}
    mutual = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                     if a in edges.get(b, ())})
    assert not mutual, f"modules that import each other: {mutual}"


def test_no_private_imports_across_subpackages():
    bad = []
    for name in MODULES:
        if _allowed(name):
            continue
        home = _package_of(name)
        for module, imported in _imports(name):
            if _allowed(module):
                continue
            target_home = _package_of(module) if module in MODULES else module
            if target_home == home:
                continue
            # the part of the path below the common prefix must be public
            common = 0
            for a, b in zip(home.split("."), module.split(".")):
                if a != b:
                    break
                common += 1
            private_path = any(_is_private(p) for p in module.split(".")[common:])
            if private_path or (imported is not None and _is_private(imported)):
                bad.append(f"{name} imports {module}" + (f".{imported}" if imported else ""))
    assert not bad, "private imports across subpackages:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", ["robustsk/evaluation/evaluate.py",
                                  "robustsk/report/result.py"])
def test_formerly_tangled_modules_are_checked(path):
    assert _module_name(PACKAGE.parent / path) in MODULES
