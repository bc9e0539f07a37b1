"""Orders: the commit's retries and deadline, fulfilment, recovery of stuck orders."""
from __future__ import annotations

from saas.settings.environment import env

# In-process attempts of an order's commit when DynamoDB fails transiently (same order id each time).
ORDERS_COMMIT_ATTEMPTS = int(env("ORDERS_COMMIT_ATTEMPTS", "3"))
# ...but no new attempt (nor a read to learn the outcome) starts once the commit has taken this long:
# a frozen DynamoDB then answers 503 outcome_unknown with the order id in < 10 s, not 67 s.
ORDERS_COMMIT_DEADLINE_SECONDS = float(env("ORDERS_COMMIT_DEADLINE_SECONDS", "3"))
# Order pipeline: simulated fulfilment time, and when the sweep treats an open order as stuck.
# The local stack (scripts/dev.sh) sets it to 20 s so a person can watch an order move and cancel it.
ORDERS_FULFILMENT_DELAY_SECONDS = float(env("ORDERS_FULFILMENT_DELAY_SECONDS", "0"))
# An orphaned order (lost enqueue, killed worker) is re-enqueued by the next sweep after this: with
# the 10 s sweep it is finished <= ~30 s after it stopped moving. Kept above the fulfilment time so a
# running job is not duplicated (a duplicate would change nothing: transitions are guarded).
ORDERS_STUCK_AFTER_SECONDS = float(env("ORDERS_STUCK_AFTER_SECONDS",
                                       str(max(15.0, ORDERS_FULFILMENT_DELAY_SECONDS + 10))))
# The sweep re-enqueues one order again only after twice the previous wait (15, 30, 60, ... s, at most
# this): a backed-up queue gets a few copies of a job, not one per sweep (orders.services).
ORDERS_RECOVERY_MAX_BACKOFF_SECONDS = float(env("ORDERS_RECOVERY_MAX_BACKOFF_SECONDS", "240"))
