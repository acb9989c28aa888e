"""Helpers of the cluster test (tests/cluster): a Spark standalone master and workers on loopback, started
from pyspark's own jars with `spark-class`, and the README's cluster recipe read as the commands it shows.

Every process is started in a process group of its own and stopped by that pid, never by name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import PROJECT_ROOT, free_port, wait_until
from trendoff.streaming.tasks import WRITE_TASKS

VENV_BIN = Path(sys.executable).parent  # spark-class, spark-submit, trendoff and pip of the test's environment
README = PROJECT_ROOT / "README.md"
# What of the checkout the recipe's copy leaves out: downloads, run data, builds, caches.
NOT_COPIED = (".git", ".venv", ".jvm", "run", "out", "dist", "build", "checkpoints", "*.egg-info", "__pycache__",
              ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules")


def activated_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a shell with the virtual environment activated (the README's commands assume one),
    loopback only, plus ``extra``."""
    # Nothing of the test process's own Spark session (its PYSPARK_PYTHON, gateway, SPARK_*) or settings
    # leaks in: drivers and executors run `python3` from PATH, as the README says.
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYSPARK_", "TRENDOFF_", "SPARK_"))}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(VENV_BIN.parent),
               SPARK_LOCAL_IP="127.0.0.1")
    env.update(extra)
    return env


def stop_group(process: subprocess.Popen[bytes], grace_seconds: float = 30.0) -> None:
    """SIGTERM to the process group ``process`` leads (it and what it started), SIGKILL after the grace time."""
    if process.poll() is not None:
        return
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(grace_seconds)
            return
        except subprocess.TimeoutExpired:
            continue


def descendants(pid: int) -> list[int]:
    """The pids of every process below ``pid`` (from /proc: Linux only, like the rest of the stack)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (2nd field) is in parentheses and may hold spaces: split after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def python_driver(process: subprocess.Popen[bytes], script: str) -> int | None:
    """The Python driver spark-submit started for ``script`` (its child; the JVM is the parent in client mode)."""
    for pid in descendants(process.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if Path(argv[0]).name.startswith("python") and any(arg.endswith(script) for arg in argv[1:]):
            return pid
    return None


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def write_tasks(ui_url: str) -> tuple[str, list[dict[str, Any]]]:
    """Every attempt of a streaming job's write tasks (the stages of the jobs described as
    streaming/tasks.py's WRITE_TASKS that wrote no shuffle: the ones that ran the work, not the read before
    the shuffle), as the driver's own Spark UI reports them (its REST API); with the application's id."""
    app = get_json(f"{ui_url}/api/v1/applications")[0]["id"]
    return app, [task for stage in get_json(f"{ui_url}/api/v1/applications/{app}/stages?details=true")
                 if WRITE_TASKS in stage.get("description", "") and not stage["shuffleWriteBytes"]
                 for task in stage.get("tasks", {}).values()]


@dataclass
class StandaloneCluster:
    """A running master and its workers; ``stop`` ends them (workers kill their executors as they go)."""

    master_url: str
    web_url: str
    worker_dirs: list[Path]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        """The master's own view (its web UI's /json): workers, active and completed applications."""
        with urllib.request.urlopen(f"{self.web_url}/json", timeout=10) as answer:
            return dict(json.load(answer))

    def executor_apps(self, worker: int) -> set[str]:
        """Ids of the applications that ran an executor on ``worker`` (each leaves app-*/<executor>/stderr)."""
        return {path.parent.parent.name for path in self.worker_dirs[worker].glob("app-*/*/stderr")}

    def worker_of(self, app: str, executor: str) -> int:
        """Which worker ran ``executor`` of ``app`` (its folder app-*/<executor> is in that worker's work dir)."""
        found = [n for n, work_dir in enumerate(self.worker_dirs) if (work_dir / app / executor).is_dir()]
        assert len(found) == 1, f"executor {executor} of {app} is in the work dirs of workers {found}"
        return found[0]

    def executor_pid(self, app: str, executor: str) -> int:
        """The JVM of ``executor`` of ``app`` (a child of its worker's JVM)."""
        wanted = ["--executor-id", executor, "--app-id", app]
        executors = []
        for worker in self.processes[1:]:
            for pid in descendants(worker.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
                except OSError:
                    continue
                if "org.apache.spark.executor.CoarseGrainedExecutorBackend" in argv:
                    executors.append(argv[argv.index("--executor-id"):])
                    if all(part in argv for part in wanted):
                        return pid
        raise AssertionError(f"no running executor {executor} of {app} among {executors}")

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, then the master
            stop_group(process)


def start_cluster(folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                  timeout_seconds: float = 120.0) -> StandaloneCluster:
    """A master and ``workers`` workers of ``cores`` cores and ``memory`` each, on free loopback ports."""
    port, web_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "conf"  # an empty conf folder: no spark-defaults.conf of the machine's applies
    conf.mkdir(exist_ok=True)
    cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web_port}",
                                [folder / f"worker{n}" for n in range(workers)], folder)
    env = activated_env({"SPARK_CONF_DIR": str(conf)})
    spark_class = str(VENV_BIN / "spark-class")
    commands = [("master", [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                            "--port", str(port), "--webui-port", str(web_port)])]
    for n, work_dir in enumerate(cluster.worker_dirs):
        work_dir.mkdir(exist_ok=True)
        commands.append((f"worker{n}", [
            spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--cores", str(cores),
            "--memory", memory, "--host", "127.0.0.1", "--port", str(free_port()), "--webui-port", str(free_port()),
            "--work-dir", str(work_dir)]))
    try:
        for name, command in commands:
            with (folder / f"{name}.log").open("wb") as log_file:
                cluster.processes.append(subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                                          stdin=subprocess.DEVNULL, start_new_session=True))

        def all_alive() -> bool:
            for (name, _), process in zip(commands, cluster.processes, strict=True):
                assert process.poll() is None, f"{name} exited: {(folder / f'{name}.log').read_text()[-3000:]}"
            alive = [w for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE"]
            return len(alive) == workers

        wait_until(all_alive, timeout_seconds, f"the master and {workers} workers", interval_seconds=0.5,
                   retry_on=(OSError,))
    except BaseException:
        cluster.stop()
        raise
    return cluster


@dataclass(frozen=True)
class ClusterRecipe:
    """The README's "Running on a cluster" commands: the lines that build the zip and prepare the services,
    the shell variables the other lines use, the producer and serving lines, and one spark-submit line per
    job for a cluster without Maven access (the ``--jars`` form)."""

    build: str
    pack: str  # the executors' Python environment, packed to ship with ingest and speed
    prepare: list[str]
    variables: list[str]
    produce: str
    serve: str
    submits: dict[str, str]  # job folder (ingest, speed, batch, csv_loader) -> its spark-submit line


def cluster_recipe(readme: Path = README) -> ClusterRecipe:
    """Read the recipe from the README, so the test runs exactly what it shows (and fails when it changes
    shape). ``export`` lines describe the user's services: the test gives those variables its own values."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Running on a cluster\n", 1)[1].split("\n## ", 1)[0]
    # Without comments (whole lines, and a trailing "  # ..." after a command).
    lines = [re.sub(r"\s+#\s.*$", "", line.strip()) for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
             for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]

    def only(prefix: str) -> str:
        found = [line for line in lines if line.startswith(prefix)]
        assert len(found) == 1, f"the README's cluster section has {len(found)} lines starting {prefix!r}, not 1"
        return found[0]

    submits: dict[str, str] = {}
    for line in lines:
        job = re.search(r"\s(\w+)/__main__\.py\b", line)
        if line.startswith("spark-submit") and "--jars" in line and job:
            submits[job.group(1)] = line
    return ClusterRecipe(
        build=only("pip wheel"), pack=only("python -m venv"),
        prepare=[line for line in lines if line.startswith("trendoff ")],
        variables=[line for line in lines if re.match(r"^[A-Z_]+=", line)],
        produce=only("python -m trendoff.producer"), serve=only("python -m trendoff.serving"), submits=submits)


def shell_line(recipe: ClusterRecipe, line: str, substitutions: Mapping[str, str], *, exec_line: bool = False) -> str:
    """A bash script running one recipe ``line`` after the recipe's variables (set anew each time, as in the
    user's shell), with ``substitutions`` of the README's placeholders (master address, file names). With
    ``exec_line`` (one command, not a list) the shell becomes it, so the process's pid is spark-submit's own."""
    script = "set -euo pipefail\n" + "\n".join(recipe.variables) + ("\nexec " if exec_line else "\n") + line + "\n"
    for placeholder, value in substitutions.items():
        script = script.replace(placeholder, value)
    return script


def run_line(script: str, cwd: Path, env: Mapping[str, str], log: Path, timeout_seconds: float = 300.0) -> str:
    """Run ``script`` (shell_line) to its end; its output, or an AssertionError with the tail of it."""
    started = time.monotonic()
    with log.open("wb") as log_file:
        process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=dict(env), stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            stop_group(process)
            raise AssertionError(f"still running after {timeout_seconds:.0f} s: {script}\n"
                                 f"{log.read_text(errors='replace')[-4000:]}") from None
    output = log.read_text(errors="replace")
    assert code == 0, f"exit {code} after {time.monotonic() - started:.0f} s: {script}\n{output[-4000:]}"
    return output
