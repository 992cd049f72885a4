"""What the benchmarks share: starting and stopping servers on loopback, finding the
binaries, reading a process's CPU time. Imported by the bench scripts, which run from
this folder (``.venv/bin/python bench/<name>.py``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], label: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{label} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{label} did not listen on {HOST}:{port} within {timeout:.0f}s; see {log}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop a server this script started (its own process group), politely first."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def hws_bin() -> Path:
    candidate = Path(sys.executable).parent / "hws"
    if candidate.exists():
        return candidate
    found = shutil.which("hws")
    if not found:
        raise SystemExit("the hws command is not found (run with the project's venv: .venv/bin/python)")
    return Path(found)


def nginx_bin() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_version(binary: str) -> str:
    result = subprocess.run([binary, "-v"], text=True, capture_output=True)
    return (result.stderr or result.stdout).strip().split("/")[-1]


def fresh_service_env(work: Path, base: str, **settings: str) -> tuple[Path, dict[str, str]]:
    """A fresh ``work`` folder with an empty data folder in it, and the environment of an
    ``hws`` serving it at ``base``: the caller's variables without any ``HWS_*``, rate
    limits off (one load generator, a few office clients), warnings only in the log, and
    ``settings`` (``HWS_*`` names)."""
    shutil.rmtree(work, ignore_errors=True)
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update({"HWS_DATA_DIR": str(data_dir), "HWS_PUBLIC_URL": base, "HWS_LOG_LEVEL": "WARNING",
                "HWS_RATE_LIMIT_PER_MINUTE": "0", "HWS_TOKEN_RATE_PER_MINUTE": "0", "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
                **settings})  # fmt: skip
    return data_dir, env


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by ``pid`` and its live children (Linux)."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
        todo.extend(children.get(current, []))
    return total / tick
