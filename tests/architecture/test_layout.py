"""Mechanical checks of docs/architecture.md: one namespace, import direction, public surfaces."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["qabilet.engine", "qabilet.calibration", "qabilet.itembank", "qabilet.api",
            "qabilet.attestation", "qabilet"]
#: the repository's folders that install as qabilet.* (pyproject's package-dir)
FOLDERS = {"engine": "qabilet.engine", "calibration": "qabilet.calibration",
           "itembank": "qabilet.itembank", "api": "qabilet.api",
           "attestation": "qabilet.attestation", "qabilet": "qabilet"}
BARE = {"engine", "calibration", "itembank", "api", "attestation"}


def _modules(package):
    pkg = importlib.import_module(package)
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _python_files():
    for folder in [*FOLDERS, "tests", "benchmarks"]:
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "conftest.py"


def _imported_names(path):
    """(line, absolute module name) of every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _python(code):
    """What a fresh interpreter running ``code`` (outside the repository) prints."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    return out.stdout.strip()


def _loaded_after_importing(package, exclude=()):
    """Top two levels of every module loaded after importing all of ``package``'s modules."""
    code = (
        "import sys, importlib, pkgutil\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + '.'):\n"
        f"    if not any(m.name.startswith(x) for x in {list(exclude)!r}):\n"
        "        importlib.import_module(m.name)\n"
        "names = set()\n"
        "for n in sys.modules:\n"
        "    parts = n.split('.')\n"
        "    names.add('.'.join(parts[:2]) if parts[0] == 'qabilet' else parts[0])\n"
        "print(','.join(sorted(names)))\n"
    )
    return set(_python(code).split(","))


def test_no_module_imports_the_bare_package_names():
    """Everything imports ``qabilet.engine`` and its siblings, never ``engine`` (issue 16)."""
    bad = [f"{path.relative_to(ROOT)}:{line}: import {name}"
           for path in _python_files() for line, name in _imported_names(path)
           if name.split(".")[0] in BARE]
    assert not bad, "\n".join(bad)


def test_bare_names_are_not_importable_outside_the_repository():
    code = ("import importlib\n"
            "for n in ['engine', 'calibration', 'itembank', 'api', 'attestation']:\n"
            "    try:\n"
            "        importlib.import_module(n)\n"
            "        print('importable:', n)\n"
            "    except ImportError:\n"
            "        pass\n"
            "import qabilet.engine, qabilet.calibration, qabilet.itembank, qabilet.api\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("package", PACKAGES + ["qabilet.delivery"])
def test_importing_every_module_loads_no_bare_package(package):
    """Dynamic imports too (``import_module``) use the installed names."""
    assert BARE.isdisjoint(_loaded_after_importing(package))


def test_engine_imports_no_storage_web_or_validation_stack():
    loaded = _loaded_after_importing("qabilet.engine")
    bad = loaded & {"sqlalchemy", "fastapi", "pydantic", "starlette", "pandas", "alembic",
                    "sqlite3", "psycopg", "qabilet.itembank", "qabilet.api",
                    "qabilet.calibration", "qabilet.delivery", "qabilet.cli", "qabilet.plot",
                    "matplotlib"}
    assert not bad, f"qabilet.engine pulled in: {sorted(bad)}"


@pytest.mark.parametrize(
    "top, banned",
    [("qabilet.calibration", {"qabilet.itembank", "qabilet.api", "qabilet.delivery"}),
     ("qabilet.itembank", {"qabilet.calibration", "qabilet.api", "qabilet.delivery",
                           "qabilet.attestation"}),
     ("qabilet.attestation", {"qabilet.calibration", "qabilet.api"})],
)
def test_calibration_and_itembank_do_not_import_each_other_or_the_edges(top, banned):
    assert banned.isdisjoint(_loaded_after_importing(top))


def test_the_plot_module_reads_the_engine_only():
    """``qabilet.plot`` draws the library's objects by their fields: at run time it loads the
    engine and matplotlib, never the bank's storage, calibration, delivery or the web stack."""
    loaded = _loaded_after_importing("qabilet.plot")
    assert "matplotlib" in loaded and "qabilet.engine" in loaded
    bad = loaded & {"qabilet.itembank", "qabilet.calibration", "qabilet.delivery", "qabilet.api",
                    "qabilet.cli", "sqlalchemy", "fastapi", "pydantic", "pandas"}
    assert not bad, f"qabilet.plot pulled in: {sorted(bad)}"


def test_neither_qabilet_nor_the_server_loads_matplotlib(tmp_path):
    """matplotlib is loaded when a plot or a group report is made, not by ``import qabilet``, the
    command line, the server's app (with what it preloads) or the profile's reports."""
    code = (
        "import sys\n"
        "import qabilet, qabilet.cli, qabilet.delivery.report_html, qabilet.delivery.answer_reports\n"
        "from qabilet.api.app import create_app\n"
        "from qabilet.api.settings import Settings\n"
        "from qabilet.delivery.profiles import preload\n"
        f"create_app(Settings(database_url='sqlite:///{tmp_path}/app.db'))\n"
        "preload()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'qabilet.plot'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    assert out.stdout.strip() == "[]", out.stdout


def test_neither_qabilet_nor_the_command_line_loads_dask():
    """Dask is loaded when a study runs: not by ``import qabilet``, the command line (every
    command's module, ``qabilet study``'s too), or the study package until it runs cells."""
    code = (
        "import sys, importlib, pkgutil\n"
        "import qabilet, qabilet.cli, qabilet.study, qabilet.study.spec, qabilet.study.cells\n"
        "import qabilet.study.run, qabilet.study.report, qabilet.study.summary\n"
        "for m in pkgutil.iter_modules(qabilet.__path__, 'qabilet.'):\n"
        "    if m.name.startswith('qabilet.cli'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    assert _python(code) == "[]"


def test_only_the_serving_command_imports_the_api():
    """Outside ``qabilet.api`` only ``qabilet serve`` (``qabilet/cli_serve.py``) imports it."""
    bad = [f"{path.relative_to(ROOT)}:{line}: import {name}"
           for folder in ("engine", "calibration", "itembank", "attestation", "qabilet")
           for path in (ROOT / folder).rglob("*.py") if path.name != "cli_serve.py"
           for line, name in _imported_names(path) if name.startswith("qabilet.api")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_exists(package):
    for module in _modules(package):
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.__all__ lists missing {name!r}"
