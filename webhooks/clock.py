"""The delivery clock (epoch seconds). Tests replace ``now`` (``webhooks.clock.now = Clock(...)``)
to move through retry schedules and outages without sleeping."""
from __future__ import annotations

import time
from typing import Callable

now: Callable[[], float] = time.time


def time_now() -> float:
    return now()
