"""bench/ipvs_scale.py's raw in-VM figures as the harness's rows (no lvsfast import, so the
README's table can be made anywhere)."""
from __future__ import annotations


def _ms(st: dict) -> dict:
    return {"median": st["median_s"] * 1e3, "min": st["min_s"] * 1e3, "max": st["max_s"] * 1e3, "n": st["rounds"]}


def rows(raw: dict) -> tuple[list[dict], dict[str, list]]:
    """The rows, ratios against ipvsadm and keepalived, and the size-against-time series."""
    results = []
    series: dict[str, list] = {"lvsfast apply (load)": [], "ipvsadm -R (load)": []}
    for r in raw["sizes"]:
        size = f"{r['services']} VS x {r['dests_per_service']} RS"
        results.append({"case": size, "metric": "load into empty IPVS", "unit": "ms", "better": "lower",
                        "lvsfast": _ms(r["lvsfast_load"]), "baseline_name": "ipvsadm -R",
                        "baseline": _ms(r["ipvsadm_restore"])})
        results.append({"case": size, "metric": "one weight change, apply_ops", "unit": "ms", "better": "lower",
                        "lvsfast": _ms(r["one_weight_change_apply_ops"]), "baseline_name": "ipvsadm -e",
                        "baseline": _ms(r["one_weight_change_ipvsadm_e"])})
        results.append({"case": size, "metric": "one weight change, full apply (diff)", "unit": "ms",
                        "better": "lower", "lvsfast": _ms(r["one_weight_change_full_apply"]),
                        "baseline_name": "ipvsadm -e", "baseline": _ms(r["one_weight_change_ipvsadm_e"])})
        series["lvsfast apply (load)"].append([r["destinations"], r["lvsfast_load"]["median_s"] * 1e3])
        series["ipvsadm -R (load)"].append([r["destinations"], r["ipvsadm_restore"]["median_s"] * 1e3])
    if "daemons" in raw:
        d = raw["daemons"]
        results.append({"case": f"{d['services']} VS x {d['dests_per_service']} RS",
                        "metric": "daemon reload adding the whole table", "unit": "ms", "better": "lower",
                        "lvsfast": _ms(d["lvsfast_reload"]), "baseline_name": "keepalived 2.2.7",
                        "baseline": _ms(d["keepalived_reload"])})
    return results, series
