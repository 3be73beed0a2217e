"""Mechanical checks of docs/design.md §4: import direction and explicit public surfaces."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = ["engine", "calibration", "itembank", "api", "qabilet"]


def _modules(package):
    pkg = importlib.import_module(package)
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def test_engine_imports_no_storage_web_or_validation_stack():
    code = (
        "import sys, importlib, pkgutil\n"
        "import engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, prefix='engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted({n.split('.')[0] for n in sys.modules} & "
        "{'sqlalchemy', 'fastapi', 'pydantic', 'starlette', 'pandas', 'itembank', 'api', "
        "'calibration', 'qabilet'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine pulled in: {out.stdout.strip()}"


@pytest.mark.parametrize(
    "top, banned", [("calibration", {"itembank", "api"}), ("itembank", {"calibration", "api"})]
)
def test_calibration_and_itembank_do_not_import_each_other_or_api(top, banned):
    code = (
        "import sys, importlib, pkgutil\n"
        f"pkg = importlib.import_module({top!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(','.join(sorted({n.split('.')[0] for n in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert banned.isdisjoint(out.stdout.strip().split(","))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_exists(package):
    for module in _modules(package):
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{module.__name__}.__all__ lists missing {name!r}"
