#!/usr/bin/env python3
"""Renders the benchmark report for docs/benchmarks.md from one run of bench/run.

Usage: render.py RESULTS MACHINE DOC
  RESULTS  the `BENCH key median=… min=… max=… unit=… n=…` and `BENCH-NOTE key text` lines of
           every bench, plus `size.*` lines from bench/run
  MACHINE  key=value lines: date, cpu, nproc, kernel, fs, revision, load_start, load_end, mode…
  DOC      docs/benchmarks.md: the part between the two markers is replaced (they are added at
           the top, under the title, when missing); everything else is kept.

Each figure's words, method, target and the reference peer's value live here (FIGURES); the
benches only measure. Standard library only.
"""

import re
import sys

BEGIN = "<!-- bench/run: generated section, do not edit by hand -->"
END = "<!-- bench/run: end of the generated section -->"

PEER = "Flask peer"

# key: (figure, how, target as (op, value, words) or None, peer value or "")
FIGURES = [
    ("idle.rss_mb", "idle RSS, total (VmRSS)",
     "release daemon, a week of alarms (14), after a page load and 20 API reads, a 75 s settle; "
     "`/proc/PID/status` every 5 s over 120 s", ("le", 8.0, "≤ 8 MB"), "52 MB"),
    ("idle.rss_private_mb", "idle RSS, private (RssAnon)", "the same samples",
     ("le", 4.0, "≤ 4 MB"), ""),
    ("idle_aarch64.rss_mb", "idle RSS, total, the Pi's aarch64 binary (estimate)",
     "the arm64 `.deb`'s binary under qemu-user beside the others: qemu's mappings of the "
     "guest (binary, libraries, heap, stack), 4 KiB pages", ("le", 8.0, "≤ 8 MB"), ""),
    ("idle_aarch64.rss_private_mb", "idle RSS, private, aarch64 (estimate)",
     "the same: the guest's anonymous pages", ("le", 4.0, "≤ 4 MB"), ""),
    ("idle.rss_file_mb", "idle RSS, file-backed (RssFile)",
     "the same samples: the binary's and libc's pages (shared page cache, reclaimable)", None, ""),
    ("idle.wakeups_per_s", "idle wakeups, no watchdog",
     "the same daemon under a notify socket: voluntary + involuntary context switches of all "
     "threads over the window", ("le", 0.05, "≤ 0.05 /s"), "1.0 /s"),
    ("idle_watchdog.wakeups_per_s", "idle wakeups, `WatchdogSec=60s`",
     "a second daemon beside it with `WATCHDOG_USEC=60000000`, as the unit runs it",
     ("le", 0.05, "≤ 0.05 /s"), "1.0 /s"),
    ("lateness.idle_ms", "firing lateness, idle",
     "release daemon under libfaketime started 3 s before a 07:00 alarm; `late_ms` of the "
     "firing (after the durable state save), one start per round", ("le", 2.0, "median ≤ 2 ms"), ""),
    ("lateness.load_ms", "firing lateness under HTTP load",
     "the same, with wrk at 50 connections on `/healthz`, `/api/status`, `/api/config` from "
     "READY until after the firing", ("le", 10.0, "median ≤ 10 ms"), ""),
    ("ring.firing_to_play_ms", "firing → play request at the Spotify mock",
     "release daemon under libfaketime, in-process mock on 127.0.0.1: from the firing's log "
     "line to `PUT /me/player/play` (journal write, devices, transfer, volume, shuffle)", None, ""),
    ("http.healthz.c1.p99_ms", "`GET /healthz` p99, unloaded",
     "wrk, one connection (see the HTTP table)", ("le", 2.0, "≤ 2 ms"), ""),
    ("http.status.c1.p99_ms", "`GET /api/status` p99, unloaded",
     "wrk, one connection", ("le", 2.0, "≤ 2 ms"), ""),
    ("http.config.c1.p99_ms", "`GET /api/config` p99, unloaded",
     "wrk, one connection", ("le", 2.0, "≤ 2 ms"), ""),
    ("http.status.c50.rps", "`GET /api/status`, 50 connections",
     "wrk -t2 -c50 on the same 2 CPUs (see the HTTP table)", None, "1,850 /s, p99 82 ms"),
    ("store.transactions_per_s", "durable transactions",
     "`ConfigStore::transaction` end to end, sequential, 150 a round", None, ""),
    ("store.plain_loop_per_s", "plain write-fsync-rename-fsync loop",
     "the same file size in the same directory, rounds interleaved with the transactions'",
     None, ""),
    ("store.ratio_pct", "transactions / plain loop",
     "per round, the limit measured beside it", ("ge", 80.0, "≥ 80 %"), ""),
    ("store.read_ns", "snapshot read", "`ConfigStore::snapshot()`, 1,000,000 a round", None, ""),
    ("start.ready_ms", "start → READY",
     "spawn to the `READY=1` datagram (config loaded, listener bound), restarts on the same "
     "state", ("le", 20.0, "≤ 20 ms"), ""),
    ("start.first_answer_ms", "start → first answer",
     "spawn to the answer of `GET /healthz`", None, "845 ms"),
    ("size.x86_64-unknown-linux-gnu", "binary, x86_64 (stripped)",
     "`target/release/reveille` built by this run", None, ""),
    ("size.aarch64-unknown-linux-gnu", "binary, aarch64 (the arm64 `.deb`)",
     "`target/pi/`, from `scripts/build-pi`", ("le", 6.0, "≤ 6 MB"), ""),
    ("size.armv7-unknown-linux-gnueabihf", "binary, armv7 (the armhf `.deb`)",
     "`target/pi/`, from `scripts/build-pi --all`", None, ""),
    ("size.aarch64-unknown-linux-musl", "binary, aarch64 static musl",
     "`target/pi/`, from `scripts/build-pi --all`", None, ""),
    ("page.first_load_bytes", "page, first load on the wire",
     "`GET /` with gzip, every file it names and imports, the manifest's icons; status line, "
     "headers and bodies. Pushed, not polled: the page follows `/api/events` "
     "(`tests/it/page/live.rs` counts no request in a minute)", ("le", 61440, "≤ 60 KiB"),
     "67 KB, polls every 4-6 s"),
    ("page.first_load_requests", "page, first-load requests", "the same load", None, "5"),
]

HTTP_TARGETS = [("healthz", "`GET /healthz`"), ("status", "`GET /api/status`"),
                ("config", "`GET /api/config`"), ("page", "the page's first-load files")]


def parse(path):
    figures, notes = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("BENCH "):
                _, key, *fields = line.split()
                values = dict(field.split("=", 1) for field in fields if "=" in field)
                figures[key] = values
            elif line.startswith("BENCH-NOTE "):
                _, key, text = line.split(" ", 2)
                notes.setdefault(key, []).append(text)
    return figures, notes


def number(value, unit=""):
    """A figure for the table: thousands separated, a sensible number of digits."""
    v = float(value)
    if v != v:
        return "–"
    if unit == "B":
        return f"{int(v):,} B"
    if unit == "" and v == int(v):
        return f"{int(v):,}"
    if abs(v) >= 1000:
        text = f"{v:,.0f}"
    elif abs(v) >= 100:
        text = f"{v:.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    elif abs(v) >= 1 or v == 0:
        text = f"{v:.2f}"
    else:
        text = f"{v:.3f}"
    return f"{text} {unit}".strip()


def spread(figure):
    if figure.get("n") == "1":
        return "one value"
    unit = figure.get("unit", "")
    low, high = number(figure["min"], unit), number(figure["max"], unit)
    return f"{low} – {high} (n = {figure['n']})"


def display(key, figure):
    """Sizes are in bytes with MB beside them; everything else in its unit."""
    if key.startswith("size."):
        b = float(figure["median"])
        return f"{int(b):,} B ({b / 1e6:.2f} MB)"
    return number(figure["median"], figure.get("unit", ""))


def judge(key, figure, target):
    if target is None or figure is None:
        return "", ""
    op, limit, _ = target
    value = float(figure["median"])
    if key.startswith("size."):
        value /= 1e6
    ratio = value / limit
    met = value <= limit if op == "le" else value >= limit
    return f"{ratio:.2f}×", ("yes" if met else "**no**")


def main_table(figures, missing_words):
    rows = ["| figure | how | median | spread (min – max) | target | ratio to target | met? "
            f"| {PEER} |", "|---|---|---|---|---|---|---|---|"]
    for key, name, how, target, peer in FIGURES:
        figure = figures.get(key)
        target_words = target[2] if target else "–"
        if figure is None:
            words = missing_words.get(key, "not measured in this run")
            rows.append(f"| {name} | {how} | {words} | | {target_words} | | | {peer} |")
            continue
        ratio, met = judge(key, figure, target)
        if figure.get("note"):
            how = f"{how}; {figure['note']}"
        spread_words = "" if key.startswith("size.") else spread(figure)
        rows.append(f"| {name} | {how} | {display(key, figure)} | {spread_words} | "
                    f"{target_words} | {ratio} | {met} | {peer} |")
    return rows


def http_table(figures):
    rows = ["| | unloaded p50 | unloaded p99 | 50 conns req/s | p50 | p99 | errors "
            "| daemon CPU per 1000 req |", "|---|---|---|---|---|---|---|---|"]
    for name, words in HTTP_TARGETS:
        def cell(metric):
            figure = figures.get(f"http.{name}.{metric}")
            if figure is None:
                return "–"
            text = number(figure["median"], figure.get("unit", ""))
            if figure.get("n", "1") != "1" and metric.endswith("rps"):
                text += f" ({number(figure['min'])} – {number(figure['max'])})"
            return text
        rows.append(f"| {words} | {cell('c1.p50_ms')} | {cell('c1.p99_ms')} | "
                    f"{cell('c50.rps')} | {cell('c50.p50_ms')} | {cell('c50.p99_ms')} | "
                    f"{cell('c50.errors')} | {cell('c50.cpu_ms_per_1000')} |")
    return rows


def render(results, machine):
    figures, notes = parse(results)
    info = {}
    with open(machine, encoding="utf-8") as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                info[k] = v
    missing = {k[len("missing."):]: v for k, v in info.items() if k.startswith("missing.")}
    for key, figure in figures.items():
        if info.get(f"note.{key}"):
            figure["note"] = info[f"note.{key}"]
    out = [BEGIN, ""]
    mode = info.get("mode", "full")
    out.append(f"### Last run: {info.get('date', '?')} ({mode})")
    out.append("")
    if mode != "full":
        out.append("**A quick run (fewer rounds, shorter windows): it checks the script, its "
                   "figures are not for quoting.**")
        out.append("")
    out.append(f"- machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} CPUs, "
               f"{info.get('memory', '?')} RAM, Linux {info.get('kernel', '?')}; `target/` on "
               f"{info.get('fs', '?')}")
    out.append(f"- revision: `{info.get('revision', '?')}`; {info.get('rustc', '?')}")
    out.append(f"- load average (1, 5, 15 min) at the start: {info.get('load_start', '?')}; "
               f"at the end: {info.get('load_end', '?')}; wall time {info.get('wall', '?')}")
    failed = info.get("failed", "").strip()
    if failed:
        out.append(f"- **failed in this run**: {failed} (their logs are in `target/bench/`)")
    out.append("")
    out.extend(main_table(figures, missing))
    out.append("")
    out.append("HTTP on loopback (wrk, keep-alive, `Accept-Encoding: gzip`; unloaded = one "
               "connection, one request after the other; loaded = `wrk -t2 -c50` on the same "
               "2 CPUs as the daemon; medians over the rounds):")
    out.append("")
    out.extend(http_table(figures))
    out.append("")
    if notes:
        out.append("Details of this run:")
        out.append("")
        for key in sorted(notes):
            for text in notes[key]:
                out.append(f"- `{key}`: {text}")
        out.append("")
    extra = sorted(k for k in figures if k.startswith("variant."))
    if extra:
        out.append("Variants compared in the same idle window:")
        out.append("")
        out.append("| variant | figure | median | spread |")
        out.append("|---|---|---|---|")
        for key in extra:
            f = figures[key]
            label, _, metric = key[len("variant."):].partition(".")
            out.append(f"| {label} | {metric} | {display(key, f)} | {spread(f)} |")
        out.append("")
    out.append(END)
    return "\n".join(out)


def splice(doc_path, section):
    with open(doc_path, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        pattern = re.escape(BEGIN) + r".*?" + re.escape(END)
        doc = re.sub(pattern, lambda _: section, doc, count=1, flags=re.S)
    else:
        title, _, rest = doc.partition("\n")
        doc = f"{title}\n\n{section}\n{rest}"
    with open(doc_path, "w", encoding="utf-8") as f:
        f.write(doc)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    splice(sys.argv[3], render(sys.argv[1], sys.argv[2]))
