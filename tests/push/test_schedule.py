"""What follows an attempt: delivered, the schedule's next delay (raised to Retry-After), or given up."""
from __future__ import annotations

import pytest

from sendmailproxy.push.schedule import Delivered, GiveUp, Retry, next_step
from sendmailproxy.push.transport import Answer, Result

SCHEDULE = (0, 5, 300, 1800)


@pytest.mark.parametrize("attempt, answer, step", [
    (1, Answer(Result.DELIVERED, 200), Delivered()),
    (4, Answer(Result.DELIVERED, 204), Delivered()),
    (1, Answer(Result.FAILED_STATUS, 500), Retry(5)),
    (2, Answer(Result.TIMEOUT), Retry(300)),
    (3, Answer(Result.CONNECTION_ERROR), Retry(1800)),
    (4, Answer(Result.FAILED_STATUS, 500), GiveUp(gone=False)),  # the schedule's last attempt
    (9, Answer(Result.FAILED_STATUS, 500), GiveUp(gone=False)),  # a lease taken over counts its claim too
    (1, Answer(Result.GONE, 410), GiveUp(gone=True)),  # at once
    (1, Answer(Result.FAILED_STATUS, 429, retry_after=120), Retry(120)),  # Retry-After raises the delay...
    (2, Answer(Result.FAILED_STATUS, 503, retry_after=120), Retry(300)),  # ...never lowers it
    (1, Answer(Result.FAILED_STATUS, 429, retry_after=10 ** 9), Retry(1800)),  # capped at the longest delay
    (4, Answer(Result.FAILED_STATUS, 429, retry_after=1), GiveUp(gone=False)),  # nor adds an attempt
])
def test_next_step(attempt, answer, step):
    assert next_step(SCHEDULE, attempt, answer) == step


def test_a_schedule_of_one_attempt_never_retries():
    assert next_step((0,), 1, Answer(Result.TIMEOUT)) == GiveUp(gone=False)
