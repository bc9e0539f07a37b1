"""Reading the environment: every setting comes from a variable, resolved once per process start.

A variable may hold a reference instead of a value, ``ssm:/path/name`` or
``secretsmanager:name#json-key`` (saas.config)."""
from __future__ import annotations

import os

from saas import config as _config

# Resolve every referenced variable in one go (one SSM call, one per secret); an unresolvable
# reference stops start-up with an error naming the variable.
_RESOLVED = _config.resolve_environment(os.environ)


def env(name: str, default: str = "") -> str:
    return _RESOLVED.get(name, os.environ.get(name, default))


def env_bool(name: str, default: bool = False) -> bool:
    return env(name, str(default)).lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in env(name, default).split(",") if v.strip()]
