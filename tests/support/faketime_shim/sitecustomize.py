"""Loaded by every Python process started under :mod:`tests.support.faketime`.

libfaketime 0.9.10 (Debian) with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` answers
``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, …)`` — what CPython's ``time.sleep``
calls — with EINVAL; faking the monotonic clock instead makes timed waits on condition
variables hang. So the monotonic clock stays real and ``time.sleep`` waits in ``select``.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
