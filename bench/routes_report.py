#!/usr/bin/env python3
"""Figures of bench/routes_bench.sh from its records.

routes_report.py requests.csv phases.txt updates.txt agent.log
  requests.csv  bench/route_load's records (wall-clock ms: due, sent, done)
  phases.txt    "<name> <ms>" and "<name>_end <ms>" lines
  updates.txt   "<phase> <n> <version> <deployment> <start ms> <end ms> <first request ms>"
  agent.log     the agent's JSON log (its "app event" lines with state healthy)
"""
import csv
import json
import statistics
import sys
from collections import Counter


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def main(requests_path, phases_path, updates_path, agent_log_path):
    records = []
    with open(requests_path) as f:
        for r in csv.DictReader(f):
            records.append((float(r["due_ms"]), float(r["sent_ms"]), float(r["done_ms"]), int(r["status"]),
                            r["failure"], r["reused"] == "1", r["version"], r.get("retried") == "1"))
    phases = {}
    with open(phases_path) as f:
        for line in f:
            name, ms = line.split()
            phases[name] = float(ms)
    updates = []
    with open(updates_path) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "setup":
                continue
            updates.append({"phase": parts[0], "n": int(parts[1]), "version": parts[2], "deployment": int(parts[3]),
                            "t0": float(parts[4]), "t1": float(parts[5]),
                            "probe": float(parts[6]) if len(parts) > 6 else None,
                            "first_ua": parts[7] if len(parts) > 7 else ""})
    healthy_event = {}
    with open(agent_log_path) as f:
        for line in f:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("msg") != "app event":
                continue
            fields = j.get("fields", j)
            if fields.get("state") == "healthy":
                healthy_event[int(fields.get("deployment"))] = float(j["ts"])

    print("\nper phase (latency = answered - due, ms; failed = non-2xx + no answer)")
    print(f"{'phase':6} {'window s':>8} {'requests':>9} {'rate/s':>8} {'failed':>7} {'non-2xx':>8} {'no answer':>9}"
          f" {'p50':>7} {'p99':>8} {'p99.9':>8} {'max':>8}")
    p99 = {}
    for name in ("rest", "reload", "zd", "held", "naive"):
        if name not in phases:
            continue
        start, end = phases[name], phases[name + "_end"]
        rows = [r for r in records if start <= r[0] < end]
        lat = sorted(r[2] - r[0] for r in rows)
        non2xx = [r for r in rows if r[3] != 0 and not 200 <= r[3] < 300]
        noanswer = [r for r in rows if r[3] == 0]
        p99[name] = pct(lat, 99)
        window = (end - start) / 1000.0
        print(f"{name:6} {window:8.1f} {len(rows):9d} {len(rows) / window:8.0f} {len(non2xx) + len(noanswer):7d}"
              f" {len(non2xx):8d} {len(noanswer):9d} {pct(lat, 50):7.1f} {pct(lat, 99):8.1f} {pct(lat, 99.9):8.1f}"
              f" {lat[-1] if lat else float('nan'):8.1f}")
        statuses = Counter(r[3] for r in non2xx)
        kinds = Counter((r[4], "reused" if r[5] else "new") for r in noanswer)
        if statuses or kinds:
            print(f"       non-2xx by status: {dict(statuses)}; no answer by kind/connection: {dict(kinds)}")
        retried = sum(1 for r in rows if r[7])
        print(f"       retried once on a new connection after a reused one closed under them (as browsers do): {retried}")
    if "rest" in p99:
        for name in ("reload", "zd", "held", "naive"):
            if name in p99:
                print(f"p99 {name} / p99 rest: {p99[name] / p99['rest']:.2f}x (target <= 1.5x for zd)")

    by_done = sorted(records, key=lambda r: r[2])
    for phase in ("zd", "held", "naive"):
        ups = [u for u in updates if u["phase"] == phase]
        if not ups:
            continue
        print(f"\n{phase}: per update (ms; probe = the new container answered the agent's health probe)")
        print(f"{'n':>3} {'ver':>3} {'deploy':>7} {'probe->first new':>16} {'event->first new':>16}"
              f" {'last old->first new':>19} {'failed':>6}")
        switch, from_event, gaps, durations = [], [], [], []
        for i, u in enumerate(ups):
            nxt = ups[i + 1]["t0"] if i + 1 < len(ups) else phases.get(phase + "_end", float("inf"))
            first_new = next((r[2] for r in by_done if r[1] >= u["t0"] and r[6] == u["version"]), None)
            last_old = max((r[2] for r in records
                            if u["t0"] <= r[1] and first_new is not None and r[2] < first_new
                            and 200 <= r[3] < 300 and r[6] != u["version"]), default=None)
            failed = sum(1 for r in records if u["t0"] <= r[0] < nxt and not 200 <= r[3] < 300)
            s = first_new - u["probe"] if first_new is not None and u["probe"] else None
            ev = healthy_event.get(u["deployment"])
            e = first_new - ev if first_new is not None and ev else None
            g = first_new - last_old if first_new is not None and last_old is not None else None
            durations.append(u["t1"] - u["t0"])
            for acc, v in ((switch, s), (from_event, e), (gaps, g)):
                if v is not None:
                    acc.append(v)
            fmt = lambda v: f"{v:.1f}" if v is not None else "-"
            print(f"{u['n']:3d} {u['version']:>3} {u['t1'] - u['t0']:7.0f} {fmt(s):>16} {fmt(e):>16} {fmt(g):>19}"
                  f" {failed:6d}")
        if switch:
            print(f"  probe -> first new-version response: median {statistics.median(switch):.1f} ms,"
                  f" max {max(switch):.1f} ms (target <= 1000 ms)")
        if from_event:
            print(f"  agent 'healthy' event -> first new-version response: median {statistics.median(from_event):.1f} ms"
                  f" (negative: the event is logged after the switch)")
        if gaps:
            print(f"  last old-version response -> first new-version response: median {statistics.median(gaps):.1f} ms,"
                  f" max {max(gaps):.1f} ms")
        probed = sum(1 for u in ups if u["first_ua"] == "berth-health")
        print(f"  the new container's first request was the agent's probe in {probed} of {len(ups)} updates"
              " (otherwise the proxy reached it first: probe->first new is then not the switch)")
        print(f"  berth app deploy: median {statistics.median(durations):.0f} ms")


if __name__ == "__main__":
    main(*sys.argv[1:5])
