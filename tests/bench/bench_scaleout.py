"""Scale-out: REST throughput with 1 vs 2 Rasa servers (production endpoints) on this machine, and where the CPU goes.

Settings: 1 and 2 Rasa servers with the production endpoints, and 1 with the local in-memory tracker store
(the PostgreSQL tracker store's cost is the difference). Each setting runs real processes (tests/scaleout/stack.py): N Rasa servers with the PostgreSQL tracker store and
the Redis lock store, behind the round-robin balancer, plus the action server. Load is closed loop: CONCURRENCY
clients, each its own conversation (so the lock store never makes them wait for each other), sending greet /
thanks / out-of-scope texts for MEASURE_S seconds after a warm-up. Closed loop measures capacity (saturation
throughput), not latency at a given arrival rate: bench_wechat_load does the open-loop latency figures.
The CPU seconds each process group used during the measurement say what saturates first. Figures go to
var/bench/bench_scaleout.json; docs/scaling.md quotes them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.bench.loadstats import percentile
from tests.scaleout.stack import RASA_START_TIMEOUT_S, Proc, postgres_schema, running_stack
from tests.support.sanic_server import free_port

TEXTS = ["你好", "谢谢", "讲个笑话", "在吗", "多谢", "帮我订外卖"]
CONCURRENCY = 16
WARMUP_S = 10.0
MEASURE_S = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _load(url: str, seconds: float, latencies: list[float], errors: list[str]) -> None:
    """CONCURRENCY closed-loop clients against `url` for `seconds`."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(number: int) -> None:
        sender = f"bench-{uuid.uuid4().hex[:8]}-{number}"
        with httpx.Client(timeout=60) as http:
            turn = 0
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    answer = http.post(url, json={"sender": sender, "message": TEXTS[turn % len(TEXTS)]})
                    ok = answer.status_code == 200 and bool(answer.json())
                except httpx.HTTPError as error:
                    ok, answer = False, None
                    with lock:
                        errors.append(type(error).__name__)
                elapsed = (time.perf_counter() - started) * 1000.0
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    elif answer is not None:
                        errors.append(f"HTTP {answer.status_code}")
                turn += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _measure(entry: Proc, groups: dict[str, list[int]]) -> dict[str, Any]:
    url = f"{entry.url}/webhooks/rest/webhook"
    _load(url, WARMUP_S, [], [])
    latencies: list[float] = []
    errors: list[str] = []
    before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
    load_before = os.getloadavg()[0]
    _load(url, MEASURE_S, latencies, errors)
    cpu = {name: round((_cpu_seconds(pids) - before[name]) / MEASURE_S, 2) for name, pids in groups.items()}
    served = max(len(latencies), 1)
    return {
        "rasa_cpu_ms_per_turn": round(cpu["rasa"] * MEASURE_S * 1000 / served, 1),
        "requests_per_s": round(len(latencies) / MEASURE_S, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "errors": len(errors),
        "cpu_cores_used": cpu,  # CPU seconds per wall second, per process group (postgres: the whole server's)
        "load_average_before": round(load_before, 2),
    }


def _run_setting(
    instances: int, model_path: Path, log_dir: Path, endpoints: str = "endpoints.production.yml"
) -> dict[str, Any]:
    action_port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with postgres_schema("gs_bench_scale") as url, running_stack(url, log_dir, action_port) as stack:
        actions = stack.actions("actions", action_port).start()
        servers = [
            stack.rasa(f"rasa-{i}", model_path, endpoints=endpoints).start(RASA_START_TIMEOUT_S)
            for i in range(1, instances + 1)
        ]
        entry = stack.balancer("rasa", free_port(), servers).start()
        groups = {
            "rasa": [s.popen.pid for s in servers if s.popen],
            "actions": [actions.popen.pid] if actions.popen else [],
            "balancer": [entry.popen.pid] if entry.popen else [],
            "postgres": _pids_named("postgres"),
            "redis": _pids_named("redis-server"),
        }
        return _measure(entry, groups)


def main() -> dict[str, Any]:
    from bot.nlu.training import ensure_model

    model_path = ensure_model(force=False, progress=lambda message: None)
    results: dict[str, Any] = {"concurrency": CONCURRENCY, "measure_s": MEASURE_S, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as logs:
        settings = [
            ("rasa_x1", 1, "endpoints.production.yml"),
            ("rasa_x2", 2, "endpoints.production.yml"),
            ("rasa_x1_in_memory_tracker", 1, "endpoints.yml"),
        ]
        for key, instances, endpoints in settings:
            figures = _run_setting(instances, model_path, Path(logs) / key, endpoints)
            results[key] = figures
            print(
                f"scale-out REST, {key}: {figures['requests_per_s']} req/s, p50 {figures['p50_ms']} ms, "
                f"p95 {figures['p95_ms']} ms, errors {figures['errors']}, Rasa CPU {figures['rasa_cpu_ms_per_turn']} "
                f"ms/turn, CPU cores used {figures['cpu_cores_used']} (load average {figures['load_average_before']})"
            )
    one, two = results["rasa_x1"]["requests_per_s"], results["rasa_x2"]["requests_per_s"]
    results["speedup_2_vs_1"] = round(two / one, 2) if one else None
    print(f"scale-out speed-up, 2 vs 1 Rasa servers on {os.cpu_count()} cores: x{results['speedup_2_vs_1']}")
    return results


if __name__ == "__main__":
    main()
