"""The zip that ships: Lambda-compatible binaries, runtime code only, .pyc shipped, within Lambda's limits."""
from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

from devstack import lambda_package
from tests import lambda_report

# Amazon Linux 2023 (the python3.13 runtime): glibc 2.34.
RUNTIME_GLIBC = (2, 34)
RUNTIME_ABI = "cp313"
LAMBDA_UNZIPPED_LIMIT = 250 * 2**20
SYMBOL_VERSION = re.compile(r"\bGLIBC_(\d+(?:\.\d+)+)\b")
MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_|manylinux(1|2010|2014)_")
LEGACY_MANYLINUX = {"1": (2, 5), "2010": (2, 12), "2014": (2, 17)}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _distributions_in(task_root: Path) -> dict[str, str]:
    found = {}
    for info in task_root.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[canonicalize_name(name)] = version
    return found


def test_no_compiled_module_needs_a_newer_glibc_than_the_runtime(task_roots, request):
    task_root = task_roots["dev"]
    libraries = sorted(p for p in task_root.rglob("*.so*") if p.is_file())
    assert libraries, "expected compiled modules (cryptography, pyyaml...) in the package"
    highest, where = (0,), None
    too_new = []
    for library in libraries:
        dump = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True, timeout=60)
        assert dump.returncode == 0, dump.stderr
        versions = [_version(v) for v in SYMBOL_VERSION.findall(dump.stdout)]
        if versions and max(versions) > highest:
            highest, where = max(versions), library.relative_to(task_root)
        if versions and max(versions) > RUNTIME_GLIBC:
            too_new.append(f"{library.relative_to(task_root)} needs GLIBC_{'.'.join(map(str, max(versions)))}")
    assert not too_new, too_new
    lambda_report.add(request.config, f"{len(libraries)} shared objects, highest glibc symbol "
                                      f"GLIBC_{'.'.join(map(str, highest))} ({where}); runtime has 2.34")


def _runs_on_lambda(tag: str) -> bool:
    python, abi, platform = tag.split("-")
    if platform == "any":
        return True
    match = MANYLINUX.match(platform)
    if not (match and platform.endswith("x86_64") and abi in (RUNTIME_ABI, "abi3", "none")):
        return False
    glibc = (int(match[1]), int(match[2])) if match[1] else LEGACY_MANYLINUX[match[3]]
    return glibc <= RUNTIME_GLIBC


def test_every_wheel_is_built_for_the_lambda_platform(task_roots):
    wheels = list(task_roots["dev"].glob("*.dist-info/WHEEL"))
    assert len(wheels) > 20
    for wheel in wheels:
        tags = [line.split(":", 1)[1].strip() for line in wheel.read_text().splitlines() if line.startswith("Tag:")]
        assert any(_runs_on_lambda(tag) for tag in tags), (wheel.parent.name, tags)  # a wheel declares alternatives


def test_only_runtime_distributions_ship_at_the_tested_versions(task_roots):
    shipped = _distributions_in(task_roots["dev"])
    assert shipped == lambda_package.runtime_distributions()
    runtime = lambda_package.requirement_closure(lambda_package._requirements(lambda_package.ROOT / "requirements.txt"))
    installed = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    dev_only = installed - set(runtime)
    assert {"moto", "pytest", "pytest-django"} <= dev_only  # the comparison below means something
    assert not set(shipped) & dev_only
    assert not set(shipped) & {canonicalize_name(n) for n in lambda_package.PRUNED_DISTRIBUTIONS}


def test_no_tools_tests_docs_or_demo_data_ship(built):
    with zipfile.ZipFile(built["dev"].zip_path) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert not tops & {"devstack", "scripts", "tests", "bench", "docs", "deploy", ".ci", ".venv", "node_modules"}
    assert "tenants/demo_users.json" not in names
    assert not [n for n in names if n.endswith(".md") and "/" not in n.rstrip("/")]
    assert {"zappa_settings.py", "saas/settings/__init__.py", "tenants/apis.py", "zappa/handler.py"} <= set(names)
    # The feature homes are top-level packages of their own: they ship like the apps.
    assert {"exports/tasks.py", "usage/models.py", "files/__init__.py", "websessions/backend.py",
            "websessions/static/saas/kept-form.js"} <= set(names)


def test_every_module_ships_its_unchecked_hash_pyc(task_roots):
    task_root = task_roots["dev"]
    missing, checked = [], []
    for source in task_root.rglob("*.py"):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        if not pyc.is_file():
            missing.append(str(source.relative_to(task_root)))
            continue
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        if flags != 0b01:  # PEP 552: hash-based, source not checked (/var/task is read-only anyway)
            checked.append(str(pyc.relative_to(task_root)))
    assert not missing, missing[:20]
    assert not checked, checked[:20]


def test_each_stage_is_built_with_its_own_settings_within_lambda_limits(built, request):
    for stage, result in built.items():
        assert result.unzipped_bytes < LAMBDA_UNZIPPED_LIMIT
        with zipfile.ZipFile(result.zip_path) as archive:
            assert f"API_STAGE='{stage}'" in archive.read("zappa_settings.py").decode()
            assert f"__pycache__/zappa_settings.{sys.implementation.cache_tag}.pyc" in archive.namelist()
            assert sum(i.file_size for i in archive.infolist()) == result.unzipped_bytes
            assert all((i.external_attr >> 16) & 0o444 == 0o444 for i in archive.infolist())  # world-readable
        lambda_report.add(request.config, f"{stage}: {result.zipped_bytes / 2**20:.1f} MiB zipped, "
                                          f"{result.unzipped_bytes / 1e6:.1f} MB unzipped (limit 262 MB), "
                                          f"{result.files} files, {len(result.distributions)} distributions")
