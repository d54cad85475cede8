"""The package's import graph, read from src/finetune_lab/*.py with `ast` (imports inside functions count too): no
cycle, nothing below the entry points imports cli.py, and every module outside the Keras stages imports neither
TensorFlow, JAX nor Keras (backend.py starts them, in the run path only, once the backend and devices are chosen)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "finetune_lab"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))
SCRIPTS = {"__main__", "resume"}  # `python -m finetune_lab[.resume]`: importing them runs the command
ENTRY = "cli"
# The stages that build, feed and train the model: plain Keras, imported once backend.start has chosen the backend.
NEEDS_KERAS = {"augment", "cache", "data", "features", "model", "original_task", "runner", "train"}
BACKEND_FREE = sorted(set(MODULES) - NEEDS_KERAS - SCRIPTS)
# Those that must stay so whatever else changes: the configs, the run folders and everything that reads them.
MUST_STAY_FREE = {"config", "catalog", "errors", "files", "runs", "report", "page", "tables", "verdicts", "claims",
                  "measure", "rules", "stats", "coverage", "planner", "verdict_table", "records", "study",
                  "study_file", "sweep_times", "verdicts_moved", "machine", "plots", "rundir", "slurm", "sweep",
                  "backend", "cli", "__init__"}
HEAVY = ("tensorflow", "jax", "keras")


def imported(tree: ast.AST, known: set[str]) -> dict[str, int]:
    """The package's modules that `tree` imports, anywhere in it (module level or inside a function), each with the
    line of its first import: `from . import x`, `from .x import y`, `import finetune_lab.x`,
    `from finetune_lab import x`, `from finetune_lab.x import y`."""
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        if name in known:
            found.setdefault(name, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            absolute = node.level == 0 and (node.module or "").split(".")[0] == "finetune_lab"
            if node.level == 1 or absolute:
                parts = (node.module or "").split(".")[1 if absolute else 0:]
                parts = [p for p in parts if p]
                if parts:
                    add(parts[0], node.lineno)
                else:
                    for alias in node.names:
                        add(alias.name, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "finetune_lab" and len(parts) > 1:
                    add(parts[1], node.lineno)
    return found


def graph() -> dict[str, dict[str, int]]:
    known = set(MODULES)
    out = {}
    for name in MODULES:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(), filename=f"{name}.py")
        out[name] = {dep: line for dep, line in imported(tree, known).items() if dep != name}
    return out


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def dependencies_first(edges: dict[str, dict[str, int]]) -> list[str]:
    """Every module after the package's modules it imports (those of a cycle in any order)."""
    seen: set[str] = set()
    order: list[str] = []

    def visit(node: str) -> None:
        seen.add(node)
        for dep in sorted(edges[node]):
            if dep not in seen:
                visit(dep)
        order.append(node)

    for name in sorted(edges):
        if name not in seen:
            visit(name)
    return order


def test_the_graph_is_read_from_every_kind_of_import():
    edges = graph()
    assert {"sweep", "backend", "config"} <= set(edges["cli"])    # from .sweep import ...; from . import backend
    assert "runner" in edges["cli"]                                # inside a function
    assert edges["__main__"] == {"cli": 1}
    tree = ast.parse("import finetune_lab.runs\nfrom finetune_lab import files\nfrom finetune_lab.stats import x\n"
                     "def f():\n    from .. import y\n    from .rules import z\n")
    assert imported(tree, set(MODULES)) == {"runs": 1, "files": 2, "stats": 3, "rules": 6}


def test_no_import_cycle():
    edges = graph()
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"{a} ({a}.py:{edges[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_only_the_command_scripts_import_cli():
    edges = graph()
    importers = {name: deps[ENTRY] for name, deps in edges.items() if ENTRY in deps and name not in SCRIPTS}
    assert not importers, f"{ENTRY}.py is the entry point; imported by " + ", ".join(
        f"{name}.py:{line}" for name, line in sorted(importers.items()))


def test_modules_outside_the_keras_stages_import_no_backend():
    assert MUST_STAY_FREE <= set(BACKEND_FREE), sorted(MUST_STAY_FREE - set(BACKEND_FREE))
    assert NEEDS_KERAS <= set(MODULES), sorted(NEEDS_KERAS - set(MODULES))  # a stage renamed: update the list
    names = ["finetune_lab" if m == "__init__" else f"finetune_lab.{m}" for m in dependencies_first(graph())
             if m in BACKEND_FREE]
    code = ("import importlib, json, sys\n"
            f"heavy, first = {HEAVY!r}, None\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    if first is None and any(k in sys.modules for k in heavy):\n"
            "        first = name\n"
            "print(json.dumps({'first': first, 'loaded': sorted(k for k in heavy if k in sys.modules)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == [], (f"importing {result['first']} imports {', '.join(result['loaded'])} (the modules "
                                    "it imports from the package were imported before it without them)")
