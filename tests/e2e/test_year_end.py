"""The suite's date-sensitive parts with the machine's clock pinned at the turn of the year.

ISO year 2026 has a week 53 (28 December 2026 – 3 January 2027). Whatever today is, these
tests move the wall clock of a child pytest run (and of every server it starts) with
Debian's ``faketime`` to Thursday 31 December 2026 12:00 UTC (week 202653, the day before
its bulletin) and to Monday 4 January 2027 (the first week of 2027), and run there:

- the publisher and examination tests (in-process, injected calendar) and the domain rules;
- the sandbox life cycle on the real server (``tests/e2e/test_life_cycle.py``);
- ``scenario_year_end.py``: an immediate publication filed that day is published in that
  week's bulletin, numbered 2026/53 or 2027/01.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.faketime import run_at

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DATE_SENSITIVE = [
    "tests/domain",
    "tests/usecases",
    "tests/store/test_jobs.py",
    "tests/e2e/test_life_cycle.py",
    "tests/e2e/scenario_year_end.py",
    # operator accounts count durations (lock-out, session timeouts) on a clock of their
    # own that the tests move through a year end already; nothing there reads the calendar
    "--ignore=tests/usecases/test_operator_accounts.py",
    # faketime moves this process's clock, never the PostgreSQL server's, and the service
    # takes every time it writes from its injected clock, not from the database: the
    # SQLite runs of the same tests exercise the same date logic, in a third less time
    "-k",
    "not postgresql",
]


@pytest.mark.parametrize("moment", ["2026-12-31 12:00:00", "2027-01-04 09:00:00"])
def test_date_sensitive_tests_pass_at_the_year_end(moment: str) -> None:
    seen = run_at(moment, [sys.executable, "-c", "import datetime; print(datetime.date.today())"], timeout=30)
    assert seen.stdout.strip() == moment[:10], seen  # the clock is really moved

    run = run_at(
        moment,
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *DATE_SENSITIVE],
        timeout=600,
        cwd=ROOT,
        extra_env={"HWS_SCENARIO_NOW": moment},
    )
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-40:])
    assert run.returncode == 0, f"under faketime {moment!r}:\n{tail}"
    assert " passed" in run.stdout and " skipped" not in run.stdout.splitlines()[-1], tail  # the scenario ran
