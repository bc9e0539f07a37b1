"""``saas.lazy_imports``: a deferred module runs its code on first use, exactly once, and otherwise
behaves as the import it replaces (submodules, ``from`` imports, missing and failing modules)."""
from __future__ import annotations

import sys
import threading

import pytest

from saas import lazy_imports

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A fresh package on sys.path whose code counts its own executions (in ``sys._lazy_runs``)."""
    name = f"lazy_probe_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("import sys\nsys._lazy_runs.append(__name__)\nVALUE = 42\n")
    (root / "sub.py").write_text(f"from {name} import VALUE\nDOUBLE = VALUE * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "_lazy_runs", [], raising=False)
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_importing_a_deferred_module_runs_nothing_until_an_attribute_is_used(package):
    lazy_imports.defer(package)
    module = __import__(package)  # what `import package` in another module does
    assert sys._lazy_runs == []
    assert module.VALUE == 42
    assert module.VALUE == 42 and sys._lazy_runs == [package]  # once
    assert type(module) is type(sys)  # a plain module from then on


def test_a_submodule_import_loads_the_package_first(package):
    lazy_imports.defer(package)
    sub = __import__(f"{package}.sub", fromlist=["DOUBLE"])
    assert sub.DOUBLE == 84 and sys._lazy_runs == [package]


def test_a_from_import_of_a_name_loads_it(package):
    lazy_imports.defer(package)
    namespace: dict = {}
    exec(f"from {package} import VALUE", namespace)
    assert namespace["VALUE"] == 42


def test_threads_racing_for_the_first_use_run_it_once(package):
    lazy_imports.defer(package)
    module = sys.modules[package]
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(module.VALUE)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [42] * 8 and sys._lazy_runs == [package]


def test_a_module_that_fails_raises_on_use_and_is_imported_again_next_time(package, tmp_path):
    broken = tmp_path / package / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    name = f"{package}.broken"
    lazy_imports.defer(name)
    with pytest.raises(RuntimeError, match="boom"):
        sys.modules[name].anything  # noqa: B018
    assert name not in sys.modules
    broken.write_text("OK = True\n")
    sys.modules.pop(name, None)
    assert __import__(name, fromlist=["OK"]).OK is True


def test_missing_and_already_imported_modules_are_left_alone():
    lazy_imports.defer("no_such_module_anywhere")
    assert "no_such_module_anywhere" not in sys.modules
    json_module = sys.modules["json"]
    lazy_imports.defer("json")
    assert sys.modules["json"] is json_module
