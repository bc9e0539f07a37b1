"""The one in-process cache primitive: bounded in size, every entry with a time to live.

Built on ``cachetools.TLRUCache`` (least recently used eviction once ``maxsize`` is reached, expiry
per entry). ``ttl`` is seconds, or a function of the value giving seconds, read when the entry is
stored, so a setting changed at run time (tests) applies to the next entry; ``math.inf`` keeps an
entry until it is evicted or dropped. The clock is injectable for tests. Thread-safe: loads run
outside the lock, so a slow load never blocks readers of other keys.

Everything a process caches (tenant resolution, table routes, topic ARNs, the job runner's tenant
records, the broker probe, secrets) goes through this class, so every cache has a bound and a TTL.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Hashable, TypeVar

import cachetools

V = TypeVar("V")
_MISSING = object()


class TTLCache(Generic[V]):
    def __init__(self, *, maxsize: int, ttl: float | Callable[[V], float], clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._data: cachetools.TLRUCache = cachetools.TLRUCache(maxsize=maxsize, ttu=self._expires_at, timer=clock)
        self._lock = threading.Lock()

    def _expires_at(self, key: Hashable, value: V, now: float) -> float:
        return now + (self._ttl(value) if callable(self._ttl) else self._ttl)

    def get(self, key: Hashable, default=None):
        with self._lock:
            return self._data.get(key, default)

    def set(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._data[key] = value

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value, or ``load()``'s (then cached). An exception from ``load`` caches nothing."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            self.set(key, value)
        return value

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def drop(self, predicate: Callable[[Hashable, V], bool]) -> None:
        """Drop every entry for which ``predicate(key, value)`` holds (e.g. all of one tenant's)."""
        with self._lock:
            for key in [key for key, value in self._data.items() if predicate(key, value)]:
                self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
