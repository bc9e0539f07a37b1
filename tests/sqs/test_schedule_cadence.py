"""The Lambda schedule fires every minute (EventBridge's floor); tasks scheduled less often must
not run every minute."""
from __future__ import annotations

import pytest

from saas.worker import _event_minute, is_due

pytestmark = pytest.mark.pure


def test_a_fifteen_minute_task_runs_once_in_fifteen_scheduled_minutes():
    runs = [minute for minute in range(60) if is_due(900, minute=minute)]
    assert runs == [0, 15, 30, 45]


@pytest.mark.parametrize("seconds", [10, 60])
def test_tasks_at_a_minute_or_less_run_every_minute(seconds):
    assert all(is_due(seconds, minute=minute) for minute in range(30))


def test_the_minute_comes_from_the_events_own_time():
    # A retried delivery of the 04:45 event still counts as 04:45.
    minute = _event_minute({"time": "2026-12-02T04:45:00Z"})
    assert minute % 60 == 45 and is_due(900, minute=minute)
    assert not is_due(900, minute=_event_minute({"time": "2026-12-02T04:46:00Z"}))



def _longest_gap_minutes(seconds: float) -> int:
    runs = [minute for minute in range(240) if is_due(seconds, minute=minute)]
    return max(later - earlier for earlier, later in zip(runs, runs[1:], strict=False))


@pytest.mark.parametrize("seconds", [150, 210, 330])
def test_a_period_between_whole_minutes_never_runs_less_often_than_asked(seconds):
    assert _longest_gap_minutes(seconds) * 60 <= seconds


def test_every_beat_entry_runs_on_lambda_at_least_as_often_as_its_schedule(settings):
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert _longest_gap_minutes(float(entry["schedule"])) * 60 <= max(60.0, float(entry["schedule"])), name
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"outbox.sweep", "offboarding.sweep", "exports.sweep"} <= tasks
