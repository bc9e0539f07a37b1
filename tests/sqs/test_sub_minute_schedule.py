"""Orphan recovery on Lambda: EventBridge fires once a minute, so a sweep scheduled every 10 s ran
once a minute and an orphaned order took ~55 s to finish in SQS mode (the Redis stack's beat: ~30 s).
The minute's tick now also sends the sweep's other runs of the minute as delayed SQS messages."""
from __future__ import annotations

from saas import aws


def test_the_minute_tick_sends_the_rest_of_the_minutes_sweeps_as_delayed_messages(jobs, settings):
    from saas.worker import _schedule_within_the_minute

    settings.CELERY_BEAT_SCHEDULE = {"outbox-sweep": {"task": "outbox.sweep", "schedule": 10.0},
                                     "exports-sweep": {"task": "exports.sweep", "schedule": 60.0}}
    assert _schedule_within_the_minute() == 5  # at +10, +20, +30, +40, +50 s; the 60 s one is the tick's own
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=jobs.url, AttributeNames=["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "5", attributes  # none visible yet
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0", attributes
