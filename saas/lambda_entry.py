"""The functions' Lambda ``Handler``: Zappa's own handler, with Python's cyclic garbage collector
paused while the container starts.

A cold start creates a few hundred thousand long-lived objects (modules, classes, functions,
botocore's service models, the Django app) and next to no garbage, yet CPython runs its collector
after every 2,000 new container objects and keeps re-scanning the survivors (79 collections in one
measured cold start, 46-92 ms). So the collector is off from this module's
import to the end of the first invocation (Zappa builds the Django app on it, and the first request
imports the URLconf); then every object alive is moved to the permanent generation
(``gc.freeze()``: later collections never scan the start-up objects again) and collection resumes
as before. The request path is Zappa's handler, unchanged (``zappa_settings.json``:
``lambda_handler``). The same pattern as preloading servers that freeze before forking workers.
"""
from __future__ import annotations

import gc

gc.disable()

from zappa import handler as zappa_handler  # noqa: E402 - imported with the collector paused

_starting = True


def lambda_handler(event, context):
    try:
        return zappa_handler.lambda_handler(event, context)
    finally:
        _started()


def _started() -> None:
    """After the first invocation (answered or failed): freeze what start-up built, collect again."""
    global _starting
    if _starting:
        _starting = False
        gc.freeze()
        gc.enable()
