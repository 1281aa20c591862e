"""Labeler benchmark: the real window (Qt's offscreen platform) on a generated catalog of 100,000
faces, driven by real key events, on SQLite and PostgreSQL.

    .venv/bin/python bench/bench_labeler.py                      # SQLite, catalog in a temp directory
    .venv/bin/python bench/bench_labeler.py --pg auto            # also PostgreSQL (scripts/pg-throwaway)
    .venv/bin/python bench/bench_labeler.py --keep /tmp/lab100k  # build once, reuse afterwards

Each backend runs in a fresh process, timed from its start (interpreter, imports and all; facecat's
modules compiled to bytecode first, as an installed package has them):
- first screen: the window shown with every visible thumbnail decoded and painted (goal 1.5 s);
- class key -> next face repainted: a class key pressed on the unreviewed queue, until the grid has
  repainted with the next face selected (200 decisions, 0.1 s apart; goal 50 ms median and p95);
  the writes go to the catalog as in real use (the writer thread commits each);
- scrolling: Page Down from the first face to the last (the whole grid, thumbnails loading behind),
  the longest the event loop was kept from running (a 1 ms heartbeat timer; goal 100 ms);
- filter change: a filter or order picked in the filter bar, until the new list of 100,000 is
  listed and painted (goal 300 ms);
- memory: the process's peak resident set (goal 500 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def longest_block(ticks: list[float], steps: list[tuple[float, float, float, int]]) -> dict | None:
    """Where the longest gap between heartbeats fell, and whose time it was: the Page Down step
    around it, its wall clock against the GUI thread's own CPU and the whole process's. GUI CPU near
    the wall: the app's own work on that thread; process CPU instead: its other threads held the
    GIL or the cores; neither: the process was not running (the OS, another process, a wait)."""
    if len(ticks) < 2 or len(steps) < 2:
        return None
    i = max(range(len(ticks) - 1), key=lambda j: ticks[j + 1] - ticks[j])
    start = ticks[i]
    n = max((k for k, s in enumerate(steps[:-1]) if s[0] <= start), default=0)
    (w0, g0, p0, row), (w1, g1, p1, _) = steps[n], steps[n + 1]
    return {"after_s": round(start - steps[0][0], 2), "row": row, "step_ms": _ms(w1 - w0),
            "gui_cpu_ms": _ms(g1 - g0), "process_cpu_ms": _ms(p1 - p0)}


def child(location: str, store: str | None, t0: float, out: Path) -> None:
    """Runs in the measured process: t0 is the wall clock when the parent started it."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import resource

    from PySide6.QtCore import QElapsedTimer, QEvent, QObject, Qt, QTimer
    from PySide6.QtTest import QTest

    from db import open_catalog
    from db.types import Order
    from labeler.app import application, create_window, settings

    app = application()
    cat = open_catalog(location, store)
    window = create_window(cat, "bench", settings(str(out.with_suffix(".ini"))))
    window.resize(1400, 900)
    shown = {}
    window.first_screen.connect(lambda: shown.setdefault("t", time.time()))
    window.show()
    while "t" not in shown:
        app.processEvents()
        if time.time() - t0 > 60:
            raise SystemExit("no first screen within 60 s")
    first_screen = shown["t"] - t0
    results = {"first_screen_s": round(first_screen, 3), "faces": len(window.model.ids)}

    class PaintWatch(QObject):
        painted = False

        def eventFilter(self, obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                self.painted = True
            return False

    watch = PaintWatch()
    window.view.viewport().installEventFilter(watch)

    def until_painted(limit_s: float = 5.0) -> None:
        watch.painted = False
        end = time.perf_counter() + limit_s
        while not watch.painted and time.perf_counter() < end:
            app.processEvents()

    def wait(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    def say(text: str) -> None:
        print(f"[{time.time() - t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    say(f"first screen after {first_screen:.2f}s, {len(window.model.ids):,} faces")
    wait(1.0)
    # --- a class key to the next face repainted ---------------------------------------------------------
    latencies, placeholders = [], 0
    for i in range(200):
        before = window.view.currentIndex().row()
        t = time.perf_counter()
        QTest.keyClick(window.view, Qt.Key.Key_1 + (i % 7))
        until_painted()
        latencies.append(time.perf_counter() - t)
        assert window.view.currentIndex().row() == before + 1
        if window.face_thumbs.pixmap(window.current_key()) is None:
            placeholders += 1
        wait(0.1)
    while not window.idle():
        app.processEvents()
    latencies.sort()
    results["key_to_next_face_ms"] = {"median": _ms(statistics.median(latencies)),
                                      "p95": _ms(latencies[int(0.95 * len(latencies)) - 1]),
                                      "max": _ms(latencies[-1]), "n": len(latencies),
                                      "next_face_without_thumbnail": placeholders}
    say("decisions timed")
    decided = cat.review_counts().reviewed
    results["decisions_in_catalog"] = decided

    # --- scrolling the whole grid with Page Down, a heartbeat measuring the event loop --------------
    ticks: list[float] = []
    beat = QTimer()
    beat.setInterval(1)
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    window.select_row(0)
    wait(0.5)
    beat.start()
    clock = QElapsedTimer()
    clock.start()
    presses = 0
    last = len(window.model.ids) - 1
    steps = []  # per Page Down: wall clock, the GUI thread's CPU, the process's CPU, the row
    while window.view.currentIndex().row() < last:
        before = window.view.currentIndex().row()
        steps.append((time.perf_counter(), time.thread_time(), time.process_time(), before))
        # On the last, partial row of the grid Page Down stays put (Qt's icon mode): End goes on.
        QTest.keyClick(window.view, Qt.Key.Key_PageDown)
        if window.view.currentIndex().row() == before:
            QTest.keyClick(window.view, Qt.Key.Key_End)
        until_painted()
        app.processEvents()
        presses += 1
        if presses % 250 == 0:
            say(f"page down {presses}, row {window.view.currentIndex().row():,}")
        if presses > 100_000:
            break
    scroll_s = clock.elapsed() / 1000
    beat.stop()
    gaps = sorted(b - a for a, b in zip(ticks, ticks[1:]))
    results["scroll"] = {"page_downs": presses, "seconds": round(scroll_s, 1),
                         "longest_event_loop_block_ms": _ms(gaps[-1]) if gaps else None,
                         "p99_block_ms": _ms(gaps[int(0.99 * len(gaps))]) if gaps else None,
                         "longest_block": longest_block(ticks, steps)}

    # --- filter changes --------------------------------------------------------------------------------
    sql_s = []
    listing = cat.review_ids

    def timed_review_ids(*args, **kwargs):  # the catalog's share of a filter change
        t = time.perf_counter()
        try:
            return listing(*args, **kwargs)
        finally:
            sql_s.append(time.perf_counter() - t)

    cat.review_ids = timed_review_ids

    def pick(key: str, value) -> tuple[float, float]:
        combo = window.filterbar.combos[key]
        i = combo.findData(value)
        assert i >= 0, (key, value)
        wait(0.5)  # a person looks before picking the next filter: the last list's thumbnails load
        sql_s.clear()
        t = time.perf_counter()
        combo.setCurrentIndex(i)  # what a click in the drop-down does; the window re-lists at once
        until_painted()
        return time.perf_counter() - t, sum(sql_s)

    say("scrolled")
    filters = {}
    for name, key, value in (
            ("status: all but deleted", "status", "active"),
            ("order: least model confidence", "order", Order.LEAST_CONFIDENCE),
            ("order: likely mislabeled (self-confidence)", "order", Order.SELF_CONFIDENCE),
            ("order: likely mislabeled (margin)", "order", Order.MARGIN),
            ("order: duplicate groups together", "order", Order.DUPLICATES),
            ("filter: model disagrees", "model", "disagrees"),
            ("filter: any model opinion", "model", None),
            ("order: catalog order", "order", Order.CATALOG),
            ("status: unreviewed queue", "status", "unreviewed")):
        filters[name] = (*pick(key, value), len(window.model.ids))
    cat.review_ids = listing
    results["filter_change_ms"] = {k: {"ms": _ms(t), "sql_ms": _ms(q), "faces": n} for k, (t, q, n) in filters.items()}
    wait(0.5)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    window.shutdown()
    cat.close()
    out.write_text(json.dumps(results, indent=1))


def compile_facecat() -> None:
    """The measured process starts as an installed `label` does: with facecat's modules compiled to
    bytecode (pip compiles a package when it installs it). Where PYTHONDONTWRITEBYTECODE is set (this
    project's machines set it) nothing writes them, and every start would compile them again."""
    import compileall

    for package in ("db", "labeler"):
        compileall.compile_dir(REPO / package, quiet=1)


def run_backend(name: str, location: str, store: str | None, work: Path) -> dict:
    out = work / f"{name}.json"
    t0 = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", location, store or "", str(t0), str(out)],
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, stdout=subprocess.DEVNULL,
                          stderr=None, text=True)  # the child's progress lines go straight to stderr
    if proc.returncode != 0:
        sys.exit(f"bench_labeler: the {name} run failed (exit {proc.returncode})")
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--pg", default=None, help="a PostgreSQL server URL (a database is created on it), or auto")
    ap.add_argument("--keep", type=Path, default=None, help="build the catalogs here and reuse them next time")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        location, store, t0, out = args.child
        child(location, store or None, float(t0), Path(out))
        return

    from labeler_catalog import build

    work = args.keep or Path(tempfile.mkdtemp(prefix="facecat-bench-labeler-"))
    work.mkdir(parents=True, exist_ok=True)
    pg_dir = None
    backends = []
    try:
        sqlite_dir = work / "sqlite"
        if not (sqlite_dir / "catalog.sqlite").exists():
            print("building the SQLite catalog...", flush=True)
            print(build(str(sqlite_dir), None, args.faces))
        backends.append(("SQLite", str(sqlite_dir), None))
        if args.pg:
            url = args.pg
            if url == "auto":
                pg_dir = Path(tempfile.mkdtemp(prefix="facecat-bench-pg-"))
                url = subprocess.run(["bash", str(REPO / "scripts" / "pg-throwaway"), "start", str(pg_dir)],
                                     check=True, capture_output=True, text=True).stdout.strip()
            import sqlalchemy as sa

            db_url = url.rsplit("/", 1)[0] + "/facecat_bench_labeler"
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                exists = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_database WHERE datname = 'facecat_bench_labeler'").first()
                if exists and (pg_dir is not None or not (work / "pg-blobs").exists()):
                    conn.exec_driver_sql("DROP DATABASE facecat_bench_labeler WITH (FORCE)")
                    exists = None
                if not exists:
                    conn.exec_driver_sql("CREATE DATABASE facecat_bench_labeler")
            admin.dispose()
            if not exists:
                print("building the PostgreSQL catalog...", flush=True)
                print(build(db_url, str(work / "pg-blobs"), args.faces))
            backends.append(("PostgreSQL", db_url, str(work / "pg-blobs")))
        with open("/proc/loadavg") as f:
            load_before = f.read().split()[0]
        rows = []
        compile_facecat()  # once, before either measured start
        for name, location, store in backends:
            print(f"measuring {name}...", flush=True)
            rows.append((name, run_backend(name, location, store, work)))
        with open("/proc/loadavg") as f:
            load_after = f.read().split()[0]
    finally:
        if pg_dir is not None:
            subprocess.run(["bash", str(REPO / "scripts" / "pg-throwaway"), "stop", str(pg_dir)], capture_output=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}; load average {load_before} before, {load_after} after")
    print("| backend | faces | first screen (s) | key -> next face median / p95 (ms) | longest block while "
          "scrolling (ms) | filter change: median / slowest (ms) | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        k = r["key_to_next_face_ms"]
        changes = r["filter_change_ms"]
        slowest = max(changes.items(), key=lambda kv: kv[1]["ms"])
        median = statistics.median(c["ms"] for c in changes.values())
        print(f"| {name} | {r['faces']:,} | {r['first_screen_s']} | {k['median']} / {k['p95']} | "
              f"{r['scroll']['longest_event_loop_block_ms']} | {median:.0f} / {slowest[1]['ms']:.0f} ({slowest[0]}; "
              f"SQL {slowest[1]['sql_ms']:.0f}) | {r['peak_rss_mb']} |")
    print()
    print(json.dumps(dict(rows), indent=1))


if __name__ == "__main__":
    main()
