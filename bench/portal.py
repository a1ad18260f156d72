"""Benchmark: deadline day at the portal, every unit uploading its file over HTTP at once.

Run:  .venv/bin/python bench/portal.py [--files 1500] [--tasks 100] [--clients 50] [--seed 2026]
          [--repeat 3]

The input is bench/ingest.py's (imported from it: the same synthetic workspace and filled
templates, cached under bench/results/ingest-cache/ keyed by the parameters; generation is
never timed). Prepared, untimed, in a temp directory: the database with the target table
imported (bench.ingest.import_targets: migrations + `ducha targets import`), copied for the
portal; the units' links from one `ducha links --period 2026-03 --format json --base-url …`.

Two variants over the same files in the same run, one after the other --repeat times (the
speed of this shared machine drifts by a fifth from one minute to the next): the ratio is that
of the medians, and every pair is reported too.

* portal  a real `ducha portal --port P` process (free port on 127.0.0.1, its own fresh
          copy of the prepared database) and --clients concurrent clients (threads, one
          keep-alive http.client connection each; their CPU seconds are reported too). A client takes the next unit and does what a clerk's browser
          does: GET the unit's page (its upload form's action carries the form token) and,
          the first time, its stylesheet (a browser keeps it),
          POST the file as multipart field `file`, GET the receipt page the 303 points to
          and, while it says 已收到，正在核验, load it again after the page's own refresh
          interval (<meta http-equiv="refresh">), until it says 已接收 or 未接收.
          Each client connects from its own loopback address (127.0.1.N): the portal limits
          requests per address (RATE["address"] in ducha/portal/app.py), and on deadline day
          the towns come from different addresses.
          Latency of a file = from the start of its POST to its final receipt page; the
          throughput is files over the whole run (first request to last final receipt).
          Peak RSS = VmHWM summed over the server's processes (the web server, the clerk that
          checks the files, its sandbox), read from /proc before it is stopped; server CPU
          seconds from /proc/<pid>/stat of the same processes (utime + stime, and cutime +
          cstime of their children that ended).
* cli     bench/ingest.py's ducha variant (its own child process: ingest(...) of the same
          files into a fresh database made by the same import_targets, timed the same way,
          verified the same way).

Verified afterwards (a benchmark of a broken run fails instead of printing): every client
saw 已接收; in the portal's database every unit has exactly one submission and it is
accepted (0 lost, 0 rejected, 0 duplicated), sum(rows) of the submissions, progress_metrics
rows, narrative-only progress_tasks and the sums of the figures equal what was written into
the files (0 half-written).

Output: a table on stdout and bench/results/portal.json. Goals: p95 < 2 s, portal files/s
>= 0.5 × cli files/s, 0 lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import (  # noqa: E402 - after the repository root is on sys.path
    RESULTS,
    Dataset,
    Figures,
    build_dataset,
    check,
    import_targets,
    run_metadata,
    run_variant,
    stored_totals,
    warm_cache,
)

PERIOD = "2026-03"  # bench.ingest's YEAR, MONTH
DUCHA = str(Path(sys.executable).with_name("ducha"))
GOAL_P95_SECONDS = 2.0
GOAL_PORTAL_OVER_CLI = 0.5
GOAL_LOST = 0
FORM = re.compile(r'action="([^"]+/upload\?form=[^"]+)"')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)">')
REFRESH = re.compile(r'http-equiv="refresh" content="(\d+(?:\.\d+)?)"')
PENDING, ACCEPTED, REJECTED = "正在核验", "已接收", "未接收"
REQUEST_TIMEOUT = 120.0
RECEIPT_GIVE_UP = 900.0  # seconds a client keeps reloading a pending receipt
MEASURED_SOURCES = tuple(
    sorted(
        str(p.relative_to(ROOT))
        for folder in ("ducha/portal", "ducha/submissions")
        for p in (ROOT / folder).glob("*.py")
    )
)

# ------------------------------------------------------------------ the server


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`ducha portal` in its own process, serving its own copy of the prepared database."""

    def __init__(self, root: Path, config: Path) -> None:
        self.root, self.config = root, config
        self.db = root / "data" / "ducha.duckdb"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = root / "portal.log"
        self.process: subprocess.Popen[bytes] | None = None

    def ducha(self, *args: str) -> list[str]:
        return [DUCHA, "--db", str(self.db), "--config", str(self.config), *args]

    def links(self) -> dict[str, str]:
        """Every reporting unit's link, from one `ducha links` call."""
        done = subprocess.run(
            self.ducha("links", "--period", PERIOD, "--format", "json", "--base-url", self.base),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"ducha links failed ({done.returncode}): {done.stderr}")
        return {row["unit"]: row["url"] for row in json.loads(done.stdout)}

    def start(self) -> None:
        import httpx

        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.ducha("portal", "--port", str(self.port)),
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit(f"the portal did not start:\n{self.log_text()[-3000:]}")

    def tree(self) -> list[int]:
        """The server process and its descendants (the clerk, its sandbox), as running now."""
        assert self.process is not None
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(stat.parent.name)] = int(fields[1])
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += [child for child, parent in parents.items() if parent == pid]
        return found

    def status(self, key: str) -> float:
        """A VmHWM / VmRSS figure summed over the server's processes, in MB."""
        total = 0.0
        for pid in self.tree():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            total += sum(int(x.split()[1]) / 1024 for x in lines if x.startswith(f"{key}:"))
        return total

    def cpu_seconds(self) -> float:
        """utime + stime of the server's processes, and of their children that ended."""
        total = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(f) for f in fields[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


# ------------------------------------------------------------------ the clients


@dataclass
class Upload:
    """One unit's file, as its client saw it."""

    unit: str
    file: str
    outcome: str = ""  # accepted / rejected / error: …
    page_seconds: float = 0.0  # GET of the unit's page
    post_seconds: float = 0.0  # POST until the 303
    seconds: float = 0.0  # POST start until the final receipt page
    receipt_loads: int = 0  # GETs of the receipt page (1 when it was final at once)
    ended: float = 0.0  # perf_counter when the final receipt came
    statuses: list[int] = field(default_factory=list)


class Client:
    """One browser's keep-alive HTTP/1.1 connection from its own loopback address (127.0.1.N),
    on the standard library's http.client: the clients share the server's two cores, and
    httpx spent about 2.3 ms of CPU a request (10 CPU-s a run) where this spends a fraction.
    No cookies: the portal uses none (the form's token is in its action). Like a browser's
    cache, it keeps the stylesheets it has loaded (the portal lets them be kept)."""

    def __init__(self, index: int) -> None:
        self.address = f"127.0.{1 + index // 250}.{1 + index % 250}"
        self.conn: http.client.HTTPConnection | None = None
        self.kept: set[str] = set()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """(status, Location header, body text). A kept connection the server closed while
        idle is opened again once (it closed before reading anything: nothing was sent)."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT,
                    source_address=(self.address, 0),
                )  # fmt: skip
            try:
                self.conn.request(method, target, body=body, headers=headers or {})
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            if response.will_close:
                self.close()
            return response.status, response.getheader("location", ""), text
        raise AssertionError("unreachable")

    def upload(self, url: str, name: str, data: bytes) -> tuple[int, str, str]:
        """POST `data` as the multipart field `file`, as a browser's form does."""
        boundary = f"----ducha-bench-{os.urandom(8).hex()}"
        quoted = (
            name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        )  # as browsers do
        body = b"".join((
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        ))  # fmt: skip
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.request("POST", url, body, headers)


def deliver(client: Client, url: str, path: Path) -> Upload:
    """What a clerk's browser does: open the page, send the form, wait on the receipt."""
    up = Upload(unit="", file=path.name)
    try:
        started = time.perf_counter()
        status, _, page = client.request("GET", url)
        up.page_seconds = time.perf_counter() - started
        up.statuses.append(status)
        found = FORM.search(page)
        if status != 200 or found is None:
            up.outcome = f"error: page {status}"
            return up
        for style in STYLESHEET.findall(page):
            if style not in client.kept:  # loaded once, as a browser keeps it
                status, _, _ = client.request("GET", urljoin(url, style))
                up.statuses.append(status)
                client.kept.add(style)
        action = urljoin(url, found.group(1).replace("&amp;", "&"))
        data = path.read_bytes()
        started = time.perf_counter()
        status, location, _ = client.upload(action, path.name, data)
        up.post_seconds = time.perf_counter() - started
        up.statuses.append(status)
        if status != 303:
            up.outcome = f"error: upload {status}"
            return up
        receipt_url = urljoin(action, location)
        while True:
            status, _, text = client.request("GET", receipt_url)
            up.receipt_loads += 1
            up.statuses.append(status)
            if status != 200:
                up.outcome = f"error: receipt {status}"
            elif PENDING in text:
                if time.perf_counter() - started < RECEIPT_GIVE_UP:
                    refresh = REFRESH.search(text)
                    time.sleep(float(refresh.group(1)) if refresh else 3.0)
                    continue
                up.outcome = "error: still pending"
            elif ACCEPTED in text:
                up.outcome = "accepted"
            elif REJECTED in text:
                up.outcome = "rejected"
            else:
                up.outcome = "error: unknown receipt page"
            break
        up.ended = time.perf_counter()
        up.seconds = up.ended - started
    except Exception as exc:  # noqa: BLE001 - a failed upload is counted and reported
        up.outcome = f"error: {type(exc).__name__}: {exc}"
    return up


def deadline_day(links: dict[str, str], ds: Dataset, clients: int) -> tuple[list[Upload], float]:
    """Every unit's file sent by `clients` concurrent clients; the uploads and the wall seconds."""
    jobs = [(f["unit"], ds.files / f["file"]) for f in ds.manifest["files"]]
    missing = [unit for unit, _ in jobs if unit not in links]
    check(not missing, f"units without a link: {missing[:3]}")
    lock = threading.Lock()
    queue = iter(jobs)
    done: list[Upload] = []

    def work(index: int) -> None:
        with Client(index) as client:
            while True:
                with lock:
                    job = next(queue, None)
                if job is None:
                    return
                unit, path = job
                up = deliver(client, links[unit], path)
                up.unit = unit
                with lock:
                    done.append(up)
                    if len(done) % 100 == 0:
                        print(f"  {len(done)}/{len(jobs)} receipts", file=sys.stderr)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(work, i) for i in range(clients)]:
            future.result()
    ended = max((u.ended for u in done if u.ended), default=time.perf_counter())
    return done, ended - started


# ------------------------------------------------------------------ verification


def verify(db: Path, ds: Dataset, uploads: list[Upload]) -> dict[str, Any]:
    """Every file arrived once, accepted, and whole; fails loudly otherwise."""
    import duckdb

    m = ds.manifest
    outcomes = Counter(u.outcome for u in uploads)
    bad = [(u.unit, u.outcome) for u in uploads if u.outcome != "accepted"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        per_unit = dict(
            con.sql(
                "SELECT unit, list(status ORDER BY submission_id) FROM submissions "
                "WHERE period = ? GROUP BY unit",
                params=[PERIOD],
            ).fetchall()
        )
        metric_rows, narrative_only, month_sum, cumulative_sum, submitted = stored_totals(con)
    finally:
        con.close()
    units = [f["unit"] for f in m["files"]]
    lost = [u for u in units if u not in per_unit]
    not_once = {u: s for u, s in per_unit.items() if s != ["accepted"]}
    summary = {
        "client_outcomes": dict(outcomes),
        "lost": len(lost),
        "not_exactly_one_accepted": len(not_once),
        "submissions": submitted[0],
        "rows": metric_rows + narrative_only,
        "metric_rows": metric_rows,
        "narrative_only": narrative_only,
    }
    print(f"verification: {summary}", file=sys.stderr)
    check(len(uploads) == m["files_count"], f"{len(uploads)} uploads for {m['files_count']} files")
    check(not bad, f"{len(bad)} uploads not accepted, e.g. {bad[:3]}")
    check(not lost, f"{len(lost)} units lost (no submission), e.g. {lost[:3]}")
    check(not not_once, f"{len(not_once)} units not exactly one accepted submission: "
                        f"{list(not_once.items())[:3]}")  # fmt: skip
    rows = metric_rows + narrative_only
    check(rows == m["rows"], f"rows in the database {rows} != rows written {m['rows']}")
    check(metric_rows == m["metric_rows"], f"metric rows {metric_rows} != {m['metric_rows']}")
    check(submitted == (m["files_count"], m["rows"]), f"submissions {submitted}")
    check(math.isclose(month_sum, m["month_sum"], rel_tol=1e-9), "本月完成 sums differ")
    check(math.isclose(cumulative_sum, m["cumulative_sum"], rel_tol=1e-9), "累计完成 sums differ")
    return summary


# ------------------------------------------------------------------ the portal variant


def quantile(values: list[float], q: float) -> float:
    """The q-quantile, linear between closest ranks (statistics.quantiles' inclusive method)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def run_portal(ds: Dataset, prepared: Path, work: Path, clients: int) -> dict[str, Any]:
    root = work / "portal"
    (root / "data").mkdir(parents=True)
    server = Server(root, ds.config)
    shutil.copy(prepared, server.db)
    started = time.perf_counter()
    links = server.links()
    links_seconds = time.perf_counter() - started
    server.start()
    try:
        start_rss = server.status("VmRSS")
        cpu_before = server.cpu_seconds()
        load = os.getloadavg()[0]
        clients_before = resource.getrusage(resource.RUSAGE_SELF)
        uploads, seconds = deadline_day(links, ds, clients)
        clients_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = server.cpu_seconds() - cpu_before
        peak_rss = server.status("VmHWM")
    finally:
        server.stop()
    log_tail = server.log_text()[-2000:]
    try:
        summary = verify(server.db, ds, uploads)
    except SystemExit:
        print(f"portal log (tail):\n{log_tail}", file=sys.stderr)
        raise
    done = [u for u in uploads if u.outcome == "accepted"]
    latencies = sorted(u.seconds for u in done)
    pages = sorted(u.page_seconds for u in done)
    posts = sorted(u.post_seconds for u in done)
    return {
        "variant": "portal",
        "clients": clients,
        "seconds": round(seconds, 3),
        "files": len(done),
        "files_per_s": round(len(done) / seconds, 2),
        "rows_per_s": round(summary["rows"] / seconds, 1),
        "server_cpu_seconds": round(cpu, 3),
        "client_cpu_seconds": round(  # this process: the clients, on the same cores
            clients_after.ru_utime
            - clients_before.ru_utime
            + clients_after.ru_stime
            - clients_before.ru_stime,
            3,
        ),  # fmt: skip
        "load": round(load, 2),
        "peak_rss_mb": round(peak_rss, 1),
        "start_rss_mb": round(start_rss, 1),
        "latency_s": {  # POST start to final receipt page
            "p50": round(quantile(latencies, 0.50), 3),
            "p95": round(quantile(latencies, 0.95), 3),
            "max": round(latencies[-1], 3),
            "mean": round(statistics.fmean(latencies), 3),
        },
        "page_s": {"p50": round(quantile(pages, 0.5), 3), "p95": round(quantile(pages, 0.95), 3)},
        "post_s": {"p50": round(quantile(posts, 0.5), 3), "p95": round(quantile(posts, 0.95), 3)},
        "receipt_loads": dict(sorted(Counter(u.receipt_loads for u in done).items())),
        "pending_receipts": sum(u.receipt_loads > 1 for u in done),
        "http_statuses": dict(Counter(s for u in uploads for s in u.statuses)),
        "links_seconds": round(links_seconds, 3),
        "verification": summary,
    }


# ------------------------------------------------------------------ report


def goal(value: float, limit: float, met: bool, op: str) -> dict[str, Any]:
    return {"value": round(value, 3), "goal": f"{op} {limit:g}", "met": met}


def report(ds: Dataset, runs: list[tuple[dict[str, Any], Figures]]) -> dict[str, Any]:
    """The table and the result file: the median portal run and the median cli run (by
    seconds), their ratio; every run; the goals (p95 and lost: in every run)."""

    def median(items: list[Any], seconds: Callable[[Any], float]) -> Any:
        return sorted(items, key=seconds)[(len(items) - 1) // 2]

    portal = median([p for p, _ in runs], lambda p: p["seconds"])
    cli = median([c for _, c in runs], lambda c: c.seconds)
    m = ds.manifest
    lat = portal["latency_s"]
    print(
        f"\n{m['files_count']} files × {m['tasks']} tasks, {m['rows']} data rows, "
        f"{m['bytes'] / 1e6:.1f} MB; {portal['clients']} clients on 127.0.0.1, "
        f"{os.cpu_count()} CPUs; {len(runs)} runs of each, the medians"
    )
    print(
        f"{'variant':<8} {'seconds':>8} {'CPU s':>7} {'files/s':>8} {'p50 s':>7} {'p95 s':>7} "
        f"{'max s':>7} {'peak RSS':>9} {'load':>5}"
    )
    print(
        f"{'portal':<8} {portal['seconds']:>8.2f} {portal['server_cpu_seconds']:>7.2f} "
        f"{portal['files_per_s']:>8.1f} {lat['p50']:>7.2f} {lat['p95']:>7.2f} {lat['max']:>7.2f} "
        f"{portal['peak_rss_mb']:>6.0f} MB {portal['load']:>5.1f}"
    )
    print(
        f"{'cli':<8} {cli.seconds:>8.2f} {cli.cpu_seconds:>7.2f} {cli.files_per_s:>8.1f} "
        f"{'':>7} {'':>7} {'':>7} {cli.peak_rss_mb:>6.0f} MB {cli.load:>5.1f}"
    )
    print(
        f"portal: page GET p50 {portal['page_s']['p50']:.2f}s p95 {portal['page_s']['p95']:.2f}s; "
        f"POST to 303 p50 {portal['post_s']['p50']:.2f}s p95 {portal['post_s']['p95']:.2f}s; "
        f"{portal['pending_receipts']} receipts said 正在核验 first; "
        f"HTTP {portal['http_statuses']}; the clients' CPU {portal['client_cpu_seconds']:.1f} s"
    )
    pairs = [
        {"portal_s": p["seconds"], "cli_s": c.seconds, "p95_s": p["latency_s"]["p95"],
         "ratio": round(p["files_per_s"] / c.files_per_s, 3)}
        for p, c in runs
    ]  # fmt: skip
    print("runs: " + "; ".join(
        f"portal {r['portal_s']:.1f}s / cli {r['cli_s']:.1f}s = {r['ratio']:.2f}" for r in pairs
    ))  # fmt: skip
    ratio = portal["files_per_s"] / cli.files_per_s
    worst_p95 = max(p["latency_s"]["p95"] for p, _ in runs)
    lost = sum(p["verification"]["lost"] for p, _ in runs)
    goals = {
        "p95_seconds": goal(worst_p95, GOAL_P95_SECONDS, worst_p95 < GOAL_P95_SECONDS, "<"),
        "portal_over_cli": goal(ratio, GOAL_PORTAL_OVER_CLI, ratio >= GOAL_PORTAL_OVER_CLI, ">="),
        "lost": goal(lost, GOAL_LOST, lost == GOAL_LOST, "=="),
    }
    labels = {"p95_seconds": "p95 latency (s, worst)", "portal_over_cli": "portal / cli files/s",
              "lost": "lost files"}  # fmt: skip
    for key, g in goals.items():
        print(f"{labels[key]:<22} {g['value']:>8.2f}  (goal {g['goal']}: "
              f"{'met' if g['met'] else 'NOT met'})")  # fmt: skip
    return {
        **run_metadata("portal", ds, MEASURED_SOURCES),
        "variants": {"portal": portal, "cli": cli.to_dict()},
        "runs": pairs,
        "goals": goals,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1500, help="files (towns), default 1500")
    parser.add_argument("--tasks", type=int, default=100, help="tasks per file, default 100")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients, default 50")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="cli + portal pairs, default 3")
    args = parser.parse_args(argv)
    ds = build_dataset(args.files, args.tasks, args.seed)
    warm_cache(ds.paths)
    work = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    try:
        prepared = work / "prepared.duckdb"
        import_targets(prepared, ds.config, ds.table)  # migrations + target table: untimed
        runs = []
        for i in range(max(1, args.repeat)):
            cli = run_variant("ducha", ds)
            print(f"cli: {cli.seconds:.2f}s, peak RSS {cli.peak_rss_mb:.0f} MB", file=sys.stderr)
            portal = run_portal(ds, prepared, work / f"run{i + 1}", args.clients)
            print(
                f"portal: {portal['seconds']:.2f}s, p95 {portal['latency_s']['p95']:.2f}s, "
                f"peak RSS {portal['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
            )
            runs.append((portal, cli))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = report(ds, runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "portal.json"
    out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
