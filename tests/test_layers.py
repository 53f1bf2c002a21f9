"""The domain packages form a checked layered graph (import-linter contracts in pyproject.toml), and no module
imports another domain's service inside a function body to dodge an import cycle."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_linter_contracts_are_kept():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_no_function_imports_another_domain():
    """Imports at module top (function-level imports count for import-linter, but hide cycles from readers)."""
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        if path == ROOT / "app" / "__init__.py":
            continue  # the factory wires every domain together on purpose
        domain = path.relative_to(ROOT / "app").parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("app."):
                    target = inner.module.split(".")[1]
                    if target not in (domain, "core", "extensions"):
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno} {inner.module}")
    assert found == []
