"""Build the Lambda deployment zip of a Zappa stage from requirements.txt only, for the Lambda platform.

    python -m devstack package <stage>        -> .build/lambda/<stage>.zip (+ <stage>.json report)
    zappa update <stage> --zip .build/lambda/<stage>.zip

Why not ``zappa package``: it copies the *local* virtualenv (dev tools and all, with compiled modules
built for this machine's glibc), and its own Lambda-wheel download does nothing offline. This does
what it should have done, with the same handler and the same ``zappa_settings.py``:

1. The runtime distributions are the closure of ``requirements.txt`` at the exact versions installed
   in the virtualenv the tests run in, minus ``PRUNED_DISTRIBUTIONS`` (deploy-time tools the Lambda
   never imports). Their wheels come from ``pip install --no-deps --only-binary=:all: --platform
   manylinux_2_34_x86_64 --implementation cp --python-version 3.13`` into a clean directory (cached
   under ``.build/lambda/deps-<hash of the list>``).
2. Runtime source: every top-level Python package of the repository except the non-runtime ones
   (``NON_RUNTIME_DIRS``), without ``tenants/demo_users.json``, docs or caches.
3. ``zappa_settings.py`` from ``zappa save-python-settings-file <stage>`` (what ``zappa package`` writes).
4. ``compileall --invalidation-mode unchecked-hash``: the ``.pyc`` ship, /var/task is read-only.
5. botocore's API models are kept only for the AWS services the stage's IAM policy names
   (``deploy/iam/<stage>.json``): the function cannot call any other service anyway. What a cold
   start parses of them is slimmed (``_slim_botocore_data``): ``endpoints.json`` keeps only those
   services (23 of its 25 ms of JSON parsing are other services' endpoints), and their
   ``service-2.json`` ships uncompressed without the documentation strings botocore only renders
   into docstrings.

The zip is cached by a hash of everything that goes into it; an unchanged tree reuses it.
"""
from __future__ import annotations

import argparse
import compileall
import gzip
import hashlib
import importlib.metadata as metadata
import json
import os
import py_compile
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".build" / "lambda"
LAMBDA_PYTHON = "3.13"  # zappa_settings.json "runtime": python3.13 (Amazon Linux 2023, glibc 2.34)
LAMBDA_GLIBC = (2, 34)
LAMBDA_PLATFORM = "manylinux_2_34_x86_64"
# pip takes a wheel only if one of its tags is named here, and does not widen manylinux_2_34 to the
# older glibc versions it runs on: every manylinux tag from 2_34 down, and the legacy aliases.
LAMBDA_PLATFORM_TAGS = [f"manylinux_2_{minor}_x86_64" for minor in range(LAMBDA_GLIBC[1], 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
PLATFORM_ARGS = [*(arg for tag in LAMBDA_PLATFORM_TAGS for arg in ("--platform", tag)), "--implementation", "cp",
                 "--python-version", LAMBDA_PYTHON, "--only-binary=:all:"]
BUILD_FORMAT = "7"  # bump when the build steps change, so cached zips are rebuilt

# Distributions required by requirements.txt that the Lambda never imports. Anything else in the
# closure ships. If the packaged-handler tests fail with ImportError, the entry was wrong.
PRUNED_DISTRIBUTIONS = {
    # zappa's deploy CLI (the handler imports only zappa.handler/wsgi/utilities/middleware)
    "argcomplete": "zappa CLI", "cfn-flip": "zappa CLI (troposphere)", "hjson": "zappa CLI",
    "placebo": "zappa CLI tests", "python-slugify": "zappa CLI", "text-unidecode": "zappa CLI",
    "toml": "zappa CLI", "tqdm": "zappa CLI", "troposphere": "zappa CLI (CloudFormation)",
    "pip": "installer", "setuptools": "installer", "wheel": "installer",
    # celery's interactive shell (celery.bin.repl); the Lambda runs no celery command line
    "click-repl": "celery shell", "prompt-toolkit": "celery shell", "wcwidth": "celery shell",
    "click-didyoumean": "celery CLI", "click-plugins": "celery CLI",
    # drf-spectacular's schema validation (`spectacular --validate`, the tests), with its closure
    "jsonschema": "schema validation (tests)",
    # cffi's C declaration parser: only for compiling bindings; the shipped ones are compiled
    "pycparser": "cffi build time",
}
# Top-level directories that are not runtime code (tools, tests, docs, deployment files).
NON_RUNTIME_DIRS = {"devstack", "scripts", "tests", "bench", "docs", "deploy", ".ci", ".build", ".stack",
                    ".venv", ".git", "node_modules", "__pycache__"}
NON_RUNTIME_FILES = {"tenants/demo_users.json"}
NON_RUNTIME_SUFFIXES = (".pyc", ".pyo", ".md", ".rst")
# botocore/data entries every client needs, whatever the service.
BOTOCORE_SHARED_DATA = {"_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json"}
# Never read at run time: caches, type stubs, translation sources (gettext loads only the .mo),
# source maps of minified assets (only a browser's developer tools ask for them).
DROPPED_DEPENDENCY_SUFFIXES = (".pyc", ".pyo", ".pyi", ".po", ".map")
# Static assets no page uses: the API docs are Swagger UI (saas.urls); Redoc is not served.
DROPPED_DEPENDENCY_DIRS = (("drf_spectacular_sidecar", "static", "drf_spectacular_sidecar", "redoc"),)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class BuildResult:
    stage: str
    zip_path: str
    key: str
    reused: bool
    distributions: dict[str, str] = field(default_factory=dict)
    aws_services: list[str] = field(default_factory=list)
    zipped_bytes: int = 0
    unzipped_bytes: int = 0
    files: int = 0
    seconds: float = 0.0


def say(message: str) -> None:
    print(f"package: {message}", file=sys.stderr, flush=True)


# --- what goes in ----------------------------------------------------------------------------------


def _requirements(path: Path) -> list[Requirement]:
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def _lambda_marker_env(extra: str = "") -> dict[str, str]:
    return {**{k: str(v) for k, v in default_environment().items()},  # python_* from this interpreter: 3.13
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": extra}


def requirement_closure(requirements: list[Requirement], *, prune: dict[str, str] | None = None) -> dict[str, str]:
    """{canonical name: installed version} of everything ``requirements`` pull in, as installed in
    this interpreter's environment (the one the tests run in), not descending into ``prune``."""
    pruned = {canonicalize_name(n) for n in (prune or {})}
    versions: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    pending = list(requirements)
    while pending:
        req = pending.pop()
        name = canonicalize_name(req.name)
        if name in pruned:
            continue
        new_extras = set(req.extras) - extras_seen.get(name, set())
        if name in versions and not new_extras:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError as exc:
            raise SystemExit(f"{req.name} is required but not installed: run `bash scripts/bootstrap.sh`") from exc
        versions[name] = dist.version
        extras_seen.setdefault(name, set()).update(req.extras)
        active = {""} | extras_seen[name]
        for spec in dist.requires or []:
            dep = Requirement(spec)
            if dep.marker is None or any(dep.marker.evaluate(_lambda_marker_env(e)) for e in active):
                pending.append(dep)
    return dict(sorted(versions.items()))


def runtime_distributions() -> dict[str, str]:
    return requirement_closure(_requirements(ROOT / "requirements.txt"), prune=PRUNED_DISTRIBUTIONS)


def source_files() -> list[Path]:
    """Runtime source, relative to ROOT: the top-level Python packages minus tools, tests and docs."""
    files = []
    for top in sorted(ROOT.iterdir()):
        if not top.is_dir() or top.name in NON_RUNTIME_DIRS or top.name.startswith(".") \
                or not (top / "__init__.py").is_file():
            continue
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(ROOT)
            if not path.is_file() or "__pycache__" in rel.parts or "tests" in rel.parts[1:]:
                continue
            if rel.as_posix() in NON_RUNTIME_FILES or path.suffix in NON_RUNTIME_SUFFIXES:
                continue
            files.append(rel)
    return files


def stages() -> list[str]:
    return list(json.loads((ROOT / "zappa_settings.json").read_text()))


def policy_services(stage: str) -> list[str]:
    """The AWS services (botocore names) the stage's IAM policy grants anything on."""
    from devstack import iam

    return sorted({action.split(":", 1)[0] for action in iam.granted_actions(iam.load_policy(stage))} | {"sts"})


# --- building --------------------------------------------------------------------------------------


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _install_dependencies(distributions: dict[str, str]) -> Path:
    pins = [f"{name}=={version}" for name, version in distributions.items()]
    key = _digest(BUILD_FORMAT.encode(), json.dumps(PLATFORM_ARGS).encode(), "\n".join(pins).encode())[:16]
    target = BUILD_DIR / f"deps-{key}"
    if (target / ".complete").is_file():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="deps-", dir=BUILD_DIR))
    say(f"pip: {len(pins)} distributions for {LAMBDA_PLATFORM} / cp{LAMBDA_PYTHON.replace('.', '')}")
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
               "--no-deps", "--no-compile", *PLATFORM_ARGS, "--target", str(scratch), *pins]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        errors = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: Location")]
        raise SystemExit(f"pip could not install Lambda wheels (a pin without a wheel for {LAMBDA_PLATFORM}?):\n"
                         + "\n".join(errors[-30:]))
    shutil.rmtree(scratch / "bin", ignore_errors=True)  # console scripts: not used on Lambda
    (scratch / ".complete").write_text("\n".join(pins) + "\n")
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    for old in BUILD_DIR.glob("deps-*"):  # keep the cache to the current set
        if old != target and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target


def _keep_dependency_file(rel: Path, services: set[str]) -> bool:
    parts = rel.parts
    if "__pycache__" in parts or rel.suffix in DROPPED_DEPENDENCY_SUFFIXES:
        return False
    if any(parts[:len(prefix)] == prefix for prefix in DROPPED_DEPENDENCY_DIRS):
        return False
    if parts[0] in ("botocore", "boto3") and len(parts) > 2 and parts[1] == "data":
        return parts[2] in services or parts[2] in BOTOCORE_SHARED_DATA
    return True


def _stage_settings(stage: str, out: Path) -> None:
    zappa = Path(sys.executable).parent / "zappa"
    result = subprocess.run([str(zappa), "save-python-settings-file", stage, "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not out.is_file():
        raise SystemExit(f"zappa save-python-settings-file {stage} failed:\n{result.stdout}{result.stderr}")


def build(stage: str, *, force: bool = False) -> BuildResult:  # noqa: C901 - the packaging steps in order
    """Build (or reuse) the zip for ``stage``; returns what it holds. Stages share one base zip
    (dependencies + source, keyed by content); each stage's zip is the base plus its own
    ``zappa_settings.py``."""
    if sys.version_info[:2] != tuple(int(p) for p in LAMBDA_PYTHON.split(".")):
        raise SystemExit(f"build with Python {LAMBDA_PYTHON} (the Lambda runtime): .pyc are version-specific")
    if stage not in stages():
        raise SystemExit(f"no stage {stage!r} in zappa_settings.json (stages: {', '.join(stages())})")
    started = time.perf_counter()
    distributions = runtime_distributions()
    services = policy_services(stage)
    sources = source_files()
    base_key = _digest(
        BUILD_FORMAT.encode(), Path(__file__).read_bytes(), json.dumps(distributions).encode(),
        json.dumps(services).encode(),
        *(str(rel).encode() + b"\0" + (ROOT / rel).read_bytes() for rel in sources),
    )[:16]
    stage_config = json.dumps(json.loads((ROOT / "zappa_settings.json").read_text())[stage], sort_keys=True)
    key = _digest(base_key.encode(), stage_config.encode(), (ROOT / "zappa_settings.json").read_bytes())[:16]
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    zip_path = BUILD_DIR / f"{stage}-{key}.zip"
    latest = BUILD_DIR / f"{stage}.zip"
    report_path = BUILD_DIR / f"{stage}.json"
    if zip_path.is_file() and report_path.is_file() and not force:
        cached = json.loads(report_path.read_text())
        if cached.get("key") == key:
            _link(zip_path, latest)
            return BuildResult(**{**cached, "reused": True, "zip_path": str(zip_path)})

    base = BUILD_DIR / f"base-{base_key}.zip"
    if force or not base.is_file():
        _build_base(base, distributions, services, sources)
        for old in BUILD_DIR.glob("base-*.zip"):
            if old != base:
                old.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"lambda-{stage}-", dir=BUILD_DIR) as tmp:
        settings_py = Path(tmp) / "zappa_settings.py"
        _stage_settings(stage, settings_py)
        pyc = Path(tmp) / f"zappa_settings.{sys.implementation.cache_tag}.pyc"
        py_compile.compile(str(settings_py), cfile=str(pyc), dfile="/var/task/zappa_settings.py", doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        partial = zip_path.with_suffix(".tmp")
        shutil.copyfile(base, partial)
        with zipfile.ZipFile(partial, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in (("zappa_settings.py", settings_py.read_bytes()),
                               (f"__pycache__/{pyc.name}", pyc.read_bytes())):
                archive.writestr(_zip_info(name, executable=False), data)
        os.replace(partial, zip_path)
    for old in BUILD_DIR.glob(f"{stage}-*.zip"):
        if old != zip_path:
            old.unlink(missing_ok=True)
    _link(zip_path, latest)
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    result = BuildResult(stage=stage, zip_path=str(zip_path), key=key, reused=False, distributions=distributions,
                         aws_services=services, zipped_bytes=zip_path.stat().st_size,
                         unzipped_bytes=sum(i.file_size for i in infos), files=len(infos),
                         seconds=round(time.perf_counter() - started, 1))
    report_path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return result


def _build_base(base: Path, distributions: dict[str, str], services: list[str], sources: list[Path]) -> None:
    deps = _install_dependencies(distributions)
    with tempfile.TemporaryDirectory(prefix="lambda-base-", dir=BUILD_DIR) as tmp:
        staging = Path(tmp) / "task"
        staging.mkdir()
        for path in sorted(deps.rglob("*")):
            rel = path.relative_to(deps)
            if path.is_file() and rel.name != ".complete" and _keep_dependency_file(rel, set(services)):
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, staging / rel)
        _slim_botocore_data(staging / "botocore" / "data")
        for rel in sources:
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, staging / rel)
        say("compiling .pyc")
        ok = compileall.compile_dir(str(staging), quiet=1, workers=os.cpu_count() or 1,
                                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                                    stripdir=str(staging), prependdir="/var/task")
        if not ok:
            raise SystemExit("compileall failed (a syntax error in a shipped module?)")
        _write_zip(staging, base)


def _strip_documentation(model: dict) -> dict:
    """A service model without its documentation strings: botocore reads them only to build
    docstrings (``Shape.documentation``, ``OperationModel.documentation``, both ``.get(..., "")``).
    Everything else (clientContextParams' documentation, which botocore indexes, included) stays."""
    model.pop("documentation", None)
    for operation in model.get("operations", {}).values():
        operation.pop("documentation", None)
        operation.pop("documentationUrl", None)
    for shape in model.get("shapes", {}).values():
        shape.pop("documentation", None)
        for member in shape.get("members", {}).values():
            member.pop("documentation", None)
    return model


def _slim_botocore_data(data: Path) -> None:
    """Less JSON for a cold start to parse, the same answers for the services that ship.

    - Each shipped ``service-2.json.gz`` becomes a plain ``service-2.json`` (botocore's loader tries
      ``.json`` first) without documentation strings: ssm's model goes from 944 to 260 kB.
    - ``endpoints.json`` keeps, in every partition, only the services whose model ships (keyed by the
      model's ``endpointPrefix``, e.g. ses -> ``email``): botocore creates no client without a model,
      so the other entries are never looked up (1.25 MB -> ~60 kB)."""
    prefixes: set[str] = set()
    for compressed in sorted(data.glob("*/*/service-2.json.gz")):
        model = _strip_documentation(json.loads(gzip.decompress(compressed.read_bytes())))
        prefixes.update({compressed.parent.parent.name, model.get("metadata", {}).get("endpointPrefix", "")})
        compressed.with_suffix("").write_text(json.dumps(model, separators=(",", ":")))
        compressed.unlink()
    endpoints_file = data / "endpoints.json"
    endpoints = json.loads(endpoints_file.read_text())
    for partition in endpoints["partitions"]:
        partition["services"] = {name: entry for name, entry in partition["services"].items() if name in prefixes}
    endpoints_file.write_text(json.dumps(endpoints, separators=(",", ":")))


def _zip_info(name: str, *, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write_zip(staging: Path, zip_path: Path) -> tuple[int, int]:
    """Deterministic zip: sorted entries, fixed dates, world-readable modes (Lambda needs o+r)."""
    tmp = zip_path.with_suffix(".tmp")
    total = count = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(staging.rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            archive.writestr(_zip_info(path.relative_to(staging).as_posix(), executable=os.access(path, os.X_OK)), data)
            total += len(data)
            count += 1
    os.replace(tmp, zip_path)
    return total, count


def _link(target: Path, link: Path) -> None:
    tmp = link.with_suffix(".lnk")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.name)
    os.replace(tmp, link)


def unpack(result: BuildResult) -> Path:
    """The zip unpacked (once per build) as /var/task would hold it."""
    target = BUILD_DIR / f"task-{result.stage}-{result.key}"
    if (target / ".unpacked").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(result.zip_path) as archive:
        archive.extractall(target)
    (target / ".unpacked").write_text(result.key)
    for old in BUILD_DIR.glob(f"task-{result.stage}-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack package", description=__doc__.split("\n\n")[0])
    parser.add_argument("stages", nargs="*", help="Zappa stages (default: every stage in zappa_settings.json)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cached zip matches")
    args = parser.parse_args(argv)
    for stage in args.stages or stages():
        result = build(stage, force=args.force)
        print(f"{stage}: {Path(result.zip_path).relative_to(ROOT)} ({'reused' if result.reused else 'built'}) "
              f"{result.zipped_bytes / 2**20:.1f} MiB zipped, {result.unzipped_bytes / 1e6:.1f} MB unzipped, "
              f"{result.files} files; deploy with: zappa update {stage} --zip .build/lambda/{stage}.zip")
    return 0
