"""The command ``hws watch`` runs once per event (``--hook``).

The command line is run by ``/bin/sh -c`` (the operator's own command, as in cron or a
systemd unit); the event is never put into it, only handed over:

- on standard input, as one JSON object (the event's ``to_dict()``);
- in the environment: ``HWS_EVENT`` (its type, e.g. ``bulletin.downloaded``),
  ``HWS_EVENT_ID`` (its stable key: the same event always has the same one),
  ``HWS_EVENT_SEQ`` and, for each plain field of the event, ``HWS_<FIELD>``
  (``HWS_WEEK``, ``HWS_PATH``, ``HWS_SRN``, ``HWS_IMPORT_ID``, ``HWS_STATUS``…).

Exit status 0 is success; anything else (or running longer than the timeout: the hook's
process group is killed) is a failure, tried again at the next round.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass

from hws.client.watch_state import Event

#: how much of a failing hook's output is kept with the event
OUTPUT_KEPT = 2000


@dataclass(frozen=True)
class HookOutcome:
    ok: bool
    error: str | None = None


def environment(event: Event, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update({"HWS_EVENT": event.type, "HWS_EVENT_ID": event.key, "HWS_EVENT_SEQ": str(event.seq)})
    for name, value in event.payload.items():
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            env["HWS_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = str(value)
        elif isinstance(value, bool):
            env["HWS_" + re.sub(r"[^A-Z0-9]", "_", name.upper())] = "1" if value else "0"
    return env


@dataclass(frozen=True)
class Hook:
    command: str
    timeout: float = 300.0

    def run(self, event: Event) -> HookOutcome:
        data = json.dumps(event.to_dict(), default=str).encode()
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", self.command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=environment(event),
                start_new_session=True,  # its own process group: a timeout kills what it started too
            )
        except OSError as exc:
            return HookOutcome(False, f"the hook could not be started: {exc}")
        try:
            output, _ = process.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return HookOutcome(False, f"the hook ran longer than {self.timeout:g} s and was killed")
        if process.returncode != 0:
            tail = output.decode(errors="replace").strip()[-OUTPUT_KEPT:]
            return HookOutcome(False, f"the hook exited with status {process.returncode}" + (f": {tail}" if tail else ""))
        return HookOutcome(True)
