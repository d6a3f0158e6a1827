#!/usr/bin/env python3
"""Median of each (engine, layout, n) over the results/raw-*.jsonl files -> markdown table."""
import glob, json, statistics, collections
rows = collections.defaultdict(list)
for f in sorted(glob.glob("results/raw-*.jsonl")):
    for line in open(f):
        line = line.strip()
        if not line: continue
        d = json.loads(line)
        if "error" in d: continue
        rows[(d["engine"], d["layout"], d["n"])].append(d)
order = {"serialize": 0, "sled16": 1, "sled64": 2, "redb": 3, "fjall": 4}
def med(ds, k):
    v = [d[k] for d in ds if k in d]
    return statistics.median(v) if v else None
ser = {(l, n): med(ds, "load_s") for (e, l, n), ds in rows.items() if e == "serialize"}
print("| engine | layout | N | runs | load s | load rec/s | load / serialise | re-run s | re-run rec/s | peak RSS MB | disk MB (apparent / allocated) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (e, l, n) in sorted(rows, key=lambda k: (k[2], order.get(k[0], 9), k[1])):
    ds = rows[(e, l, n)]
    ls = med(ds, "load_s"); s = ser.get((l, n))
    ratio = f"{ls/s:.0f}x" if s and e != "serialize" else "1x"
    if e == "serialize":
        print(f"| serialise-only | {l} | {n} | {len(ds)} | {ls:.3f} | {med(ds,'load_rps'):,.0f} | 1x | – | – | {med(ds,'peak_rss_mb'):.0f} | – |")
        continue
    print(f"| {e} | {l} | {n} | {len(ds)} | {ls:.2f} | {med(ds,'load_rps'):,.0f} | {ratio} | {med(ds,'rerun_s'):.3f} | {med(ds,'rerun_rps'):,.0f} | {med(ds,'peak_rss_mb'):.0f} | {med(ds,'disk_mb'):.0f} / {med(ds,'disk_alloc_mb'):.0f} |")
