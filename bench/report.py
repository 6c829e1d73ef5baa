"""Medians, the per-row / fixed split, ratios and targets; the printed table and the JSON.

Why split per-row from fixed: start-up (interpreter, imports, planning queries) is paid
once per export and hides the per-row cost at small sizes; two sizes separate them:
per_row = (t(4N) - t(N)) / 3N and fixed = t(N) - N * per_row.
"""
from __future__ import annotations

from statistics import median


def summarize(job) -> dict:
    ok = [s for s in job.samples if s["rc"] == 0]
    out = {"name": job.name, "target": job.target, "size": job.size, "rows": job.rows,
           "reps": len(job.samples), "failed": len(job.samples) - len(ok), "walls_s": [round(s["wall_s"], 3) for s in ok]}
    if not ok:
        out["error"] = job.samples[-1].get("error") if job.samples else None
        return out
    wall = median(s["wall_s"] for s in ok)
    out.update(wall_s=round(wall, 3), rss_mb=round(max(s["rss_mb"] for s in ok), 1),
               other_cores=round(median(s.get("other_cores", 0.0) for s in ok), 2), samples=job.samples)
    sizes = [s["out_bytes"] for s in ok if "out_bytes" in s]
    if sizes:
        out["out_mb"] = round(median(sizes) / 1e6, 1)
        out["mb_per_s"] = round(out["out_mb"] / wall, 1)
    if job.rows:
        out["rows_per_s"] = round(job.rows / wall)
    reported = {s.get("rows_reported") for s in ok} - {None}
    if reported and reported != {job.rows}:
        out["rows_mismatch"] = sorted(reported)
    return out


def _find(jobs: list[dict], name: str, target: str, size) -> dict | None:
    return next((j for j in jobs if j["name"] == name and j["target"] == target and j["size"] == size
                 and "wall_s" in j), None)


def _split(jobs: list[dict], name: str, target: str, sizes: list[int]) -> dict | None:
    a, b = (_find(jobs, name, target, s) for s in (sizes[0], sizes[-1]))
    if a is None or b is None or a is b or not a["rows"] or b["rows"] == a["rows"]:
        return None
    per_row = (b["wall_s"] - a["wall_s"]) / (b["rows"] - a["rows"])
    return {"name": name, "target": target, "per_row_us": round(per_row * 1e6, 3),
            "fixed_s": round(a["wall_s"] - a["rows"] * per_row, 3),
            "rss_growth": round(b["rss_mb"] / a["rss_mb"] - 1, 3)}


def derive(jobs: list[dict], args) -> dict:
    sizes = args.sizes
    pairs = {(j["name"], j["target"]) for j in jobs if j["size"] is not None}
    splits = [s for s in (_split(jobs, n, t, sizes) for n, t in sorted(pairs)) if s]
    split = {(s["name"], s["target"]): s for s in splits}
    ratios = []
    comparisons = [("connector/raw", "v2", "raw (curl)", "v2"), ("connector/raw", "v2-1Gbit", "raw (curl)", "v2-1Gbit"),
                   ("connector/old", "v2", "old (query_data_frame)", "v2"), ("connector/curl", "v1", "raw (curl)", "v1"),
                   ("connector/influx CLI", "v1", "influx CLI", "v1")]
    for label, target, other, other_target in comparisons:
        for size in sizes:
            c, o = _find(jobs, "connector", target, size), _find(jobs, other, other_target, size)
            if c and o:
                ratios.append({"ratio": label, "target": target, "size": size, "wall": round(c["wall_s"] / o["wall_s"], 3)})
        c, o = split.get(("connector", target)), split.get((other, other_target))
        if c and o and o["per_row_us"] > 0:
            ratios.append({"ratio": label, "target": target, "size": "per-row",
                           "wall": round(c["per_row_us"] / o["per_row_us"], 3)})
    return {"splits": splits, "ratios": ratios, "targets": _targets(jobs, split, ratios, sizes)}


def _check(what: str, value, limit: str, ok) -> dict:
    status = "n/a" if value is None else ("PASS" if ok else "MISS")
    return {"target": what, "value": value, "limit": limit, "status": status}


def _targets(jobs, split, ratios, sizes) -> list[dict]:
    def ratio(label, target, size):
        return next((r["wall"] for r in ratios if (r["ratio"], r["target"], r["size"]) == (label, target, size)), None)

    out = []
    r = ratio("connector/raw", "v2-1Gbit", "per-row")
    out.append(_check("2.x at 1 Gbit/s: connector per-row / raw per-row", r, "<= 1.25", r is not None and r <= 1.25))
    r = ratio("connector/old", "v2", sizes[0])
    speedup = round(1 / r, 1) if r else None
    out.append(_check(f"2.x at N: old wall / connector wall (x faster)", speedup, ">= 30", speedup and speedup >= 30))
    worst = [ratio("connector/curl", "v1", s) for s in sizes]
    worst = max((w for w in worst if w is not None), default=None)
    out.append(_check("1.x: connector wall / curl wall (worst size)", worst, "<= 1.3", worst is not None and worst <= 1.3))
    rss = [j["rss_mb"] for j in jobs if j["name"] == "connector" and j["size"] == sizes[0] and "rss_mb" in j]
    top = max(rss, default=None)
    out.append(_check("connector peak RSS at N, MB (worst target)", top, "<= 250", top is not None and top <= 250))
    growth = [s["rss_growth"] for (n, _), s in split.items() if n == "connector"]
    g = max(growth, default=None)
    out.append(_check(f"connector peak-RSS growth N -> {sizes[-1]}N (worst target)", g, "< 0.20", g is not None and g < 0.2))
    return out


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(results: dict) -> str:
    cfg = results["config"]
    lines = [f"\nrows N = {cfg['rows']:,} ({cfg['series']} series x {len(cfg['fields'])} float fields, 1 s apart), "
             f"sizes {cfg['sizes']}, median of n reps; old path up to {cfg['old_max_rows']:,} rows, "
             f"influx CLI up to {cfg['cli_max_rows']:,} rows",
             f"seeding (not timed): {results.get('seeding')}", "",
             f"{'command':<34}{'target':<10}{'rows':>10}{'n':>3}{'wall s':>9}{'rows/s':>11}{'MB/s':>8}{'out MB':>8}"
             f"{'RSS MB':>8}{'other':>7}"]
    for j in results["jobs"]:
        if "wall_s" not in j:
            lines.append(f"{j['name']:<34}{j['target']:<10}{_fmt(j['rows'], ',d'):>10}  FAILED: {j.get('error')}")
            continue
        flag = f"  rows reported {j['rows_mismatch']}!" if "rows_mismatch" in j else ""
        lines.append(f"{j['name']:<34}{j['target']:<10}{_fmt(j['rows'], ',d'):>10}{len(j['walls_s']):>3}{j['wall_s']:>9.2f}"
                     f"{_fmt(j.get('rows_per_s'), ',d'):>11}{_fmt(j.get('mb_per_s'), '.1f'):>8}"
                     f"{_fmt(j.get('out_mb'), '.1f'):>8}{j['rss_mb']:>8.0f}{j['other_cores']:>7.2f}{flag}")
    lines += ["", f"{'per-row / fixed split':<34}{'target':<10}{'per-row us':>11}{'fixed s':>9}{'RSS growth':>11}"]
    for s in results["splits"]:
        lines.append(f"{s['name']:<34}{s['target']:<10}{s['per_row_us']:>11.3f}{s['fixed_s']:>9.3f}{s['rss_growth']:>10.0%}")
    split_names = {(s["name"], s["target"]) for s in results["splits"]}
    single = sorted({(j["name"], j["target"]) for j in results["jobs"] if j["size"] is not None} - split_names)
    for name, target in single:
        lines.append(f"{name:<34}{target:<10}{'-':>11}{'-':>9}{'-':>11}   (one size only)")
    lines += ["", f"{'ratio (wall; per-row = per-row us)':<34}{'target':<10}{'size':>8}{'ratio':>8}"]
    for r in results["ratios"]:
        size = r["size"] if r["size"] == "per-row" else f"{r['size']}N"
        lines.append(f"{r['ratio']:<34}{r['target']:<10}{size:>8}{r['wall']:>8.3f}")
    lines += ["", "targets (reported, not asserted):"]
    for t in results["targets"]:
        lines.append(f"  {t['status']:<5} {t['target']}: {t['value']} (want {t['limit']})")
    if "phases_s" in results:
        lines += ["", f"benchmark time: {sum(results['phases_s'].values()):.0f} s {results['phases_s']}"]
    demo = results.get("workers_demo")
    if demo:
        lines += ["", f"workers demo: {demo['windows']} fixed 1 h windows, {demo['latency_s']} s latency per query"]
        for j in demo["jobs"]:
            lines.append(f"  {j['name']:<24}{_fmt(j.get('wall_s'), '.2f'):>8} s{_fmt(j.get('rss_mb'), '.0f'):>6} MB")
    elif "workers_demo" in results:
        lines += ["", "workers demo: skipped (the CLI does not accept --workers)"]
    prof = results.get("profile")
    if prof:
        lines += ["", f"profile: {prof['rows']:,} rows in {prof['wall_s_profiled']} s under cProfile "
                      f"({prof['threads']} threads merged)", prof["cumulative"], prof["tottime"], prof.get("callers", "")]
    return "\n".join(lines)
