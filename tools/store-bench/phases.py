#!/usr/bin/env python3
"""Median load-phase breakdown (lines that carry phase fields) -> markdown table."""
import glob, json, statistics, collections
rows = collections.defaultdict(list)
for f in sorted(glob.glob("results/*.jsonl")):
    for line in open(f):
        line = line.strip()
        if not line: continue
        d = json.loads(line)
        if "probe_s" in d: rows[(d["engine"], d["layout"], d["n"])].append(d)
order = {"sled16": 1, "sled64": 2, "redb": 3, "fjall": 4}
m = lambda ds, k: statistics.median(d[k] for d in ds)
print("| engine | layout | N | runs | load s | gen+serialise s | 3 probe reads s | stage+apply s | durability (fsync/commit) s |")
print("|---|---|---|---|---|---|---|---|---|")
for k in sorted(rows, key=lambda k: (k[2], order.get(k[0], 9), k[1])):
    ds = rows[k]; L = m(ds, "load_s")
    cell = lambda f: f"{m(ds,f):.2f} ({100*m(ds,f)/L:.0f}%)"
    print(f"| {k[0]} | {k[1]} | {k[2]} | {len(ds)} | {L:.2f} | {cell('gen_serialise_s')} | {cell('probe_s')} | {cell('apply_s')} | {cell('durable_s')} |")
