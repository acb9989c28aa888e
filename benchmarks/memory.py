"""Peak resident memory of the pipeline's processes, for the benchmark table (Linux /proc)."""

from __future__ import annotations

import os
from pathlib import Path


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set) of a running process in MiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def java_children(pid: int | None = None) -> list[int]:
    """Java processes started by this process (pyspark's driver JVM is one)."""
    parent = os.getpid() if pid is None else pid
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"java" in (entry / "cmdline").read_bytes().split(b"\0")[0]:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found
