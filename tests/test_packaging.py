"""finetune-lab as a package: every third-party import is declared, the configs live in the package (conf/ links
there), and a non-editable wheel installed into a fresh environment runs from a folder outside the repository
(slow: pytest -m slow)."""
import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from conftest import CONF_DIR, ROOT


def declared_distributions() -> set[str]:
    """Every distribution pyproject.toml names, in its dependencies and its extras, normalised."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {normalise(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in requirements}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level_modules(folder: Path) -> set[str]:
    """The top-level names of every absolute import in the .py files under `folder`."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_third_party_package_imported_in_src_is_declared():
    third_party = imported_top_level_modules(ROOT / "src" / "finetune_lab") - set(sys.stdlib_module_names) - {
        "finetune_lab"}
    assert {"keras", "scipy", "yaml"} <= third_party  # the walk sees the imports
    owners = importlib.metadata.packages_distributions()
    missing = {module: owners.get(module) for module in third_party
               if not {normalise(d) for d in owners.get(module, [])} & declared_distributions()}
    assert not missing, f"imported in src/ but not declared in pyproject.toml: {missing}"


def test_the_top_level_conf_folder_is_the_packaged_configs():
    assert (ROOT / "conf").resolve() == Path(CONF_DIR).resolve()
    assert (Path(CONF_DIR) / "config.yaml").is_file() and (Path(CONF_DIR) / "__init__.py").is_file()


def test_the_readme_layout_names_every_module():
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    modules = sorted(p.name for p in (ROOT / "src" / "finetune_lab").glob("*.py"))
    assert [m for m in modules if not re.search(rf"(^|[ ,]){re.escape(m)}\b", layout, re.M)] == []


def fresh_environment(folder: Path) -> Path:
    """A new virtual environment without finetune-lab that sees this interpreter's installed packages (its
    site-packages named in a .pth file, whose own .pth files, an editable finetune-lab among them, are not read).
    Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    Path(purelib, "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_composes_its_configs_and_runs_the_smoke_run(tmp_path):
    project = tmp_path / "project"  # built from a copy, so that no build/ folder is left in (or reused from) ROOT
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(project)],
                   check=True, timeout=600)
    (wheel,) = wheels.glob("finetune_lab-*.whl")
    python = fresh_environment(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--ignore-installed", "--quiet", str(wheel)],  # ignore: the dependencies' venv may hold an
                   check=True, timeout=600)                          # editable finetune-lab; it stays untouched
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # nothing from the checkout
    where = subprocess.run([str(python), "-c", "import finetune_lab; print(finetune_lab.__file__)"], cwd=elsewhere,
                           env=env, check=True, capture_output=True, text=True).stdout
    assert Path(where).is_relative_to(tmp_path / "venv"), where
    script = tmp_path / "venv" / "bin" / "finetune-lab"

    job = subprocess.run([str(script), "debug=smoke", "--cfg", "job"], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=300)
    assert job.returncode == 0, job.stderr[-3000:]
    assert "input_size: 32" in job.stdout and "source: mnist_embedded" in job.stdout

    smoke = subprocess.run([str(script), "debug=smoke"], cwd=elsewhere, env=env, capture_output=True, text=True,
                           timeout=900)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    (run,) = (elsewhere / "outputs" / "debug" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["test"]["n"] == 20
