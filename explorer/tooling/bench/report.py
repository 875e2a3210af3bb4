"""The bench's targets, judged from its figures, and the readable table of a result."""
from __future__ import annotations

import json
from collections.abc import Callable

# name: (what "met" means, test); figures without a target are reported but not judged
TARGETS: dict[str, tuple[str, Callable[[dict], bool | None]]] = {
    "time_to_map_ratio": ("< 1.5", lambda f: f["time_to_map_ratio"] < 1.5),
    "time_to_map_cold_ratio": ("<= 2", lambda f: f["time_to_map_cold_ratio"] <= 2),
    "slider_roundtrip_ms": ("< 150", lambda f: f["slider_roundtrip_ms"] < 150),
    "slider_server_ms": ("< 30", lambda f: f["slider_server_ms"] < 30),
    "projection_umap_s": ("3x faster than umap-learn defaults, trustworthiness >= theirs",
                          lambda f: f["projection_umap_speedup"] >= 3
                          and f["projection_umap_trust"] >= f["baseline_umap_trust"]),
    "projection_tsne_s": ("3x faster than scikit-learn TSNE defaults, trustworthiness >= theirs",
                          lambda f: f["projection_tsne_speedup"] >= 3
                          and f["projection_tsne_trust"] >= f["baseline_tsne_trust"]),
    "bigmap_umap_s": ("3x faster than umap-learn defaults at 70,000 codes, trustworthiness and neighbour recall >= theirs",
                      lambda f: f["bigmap_umap_speedup"] >= 3 and f["bigmap_umap_trust"] >= f["bigmap_baseline_umap_trust"]
                      and f.get("bigmap_umap_recall15", 0) >= f.get("bigmap_baseline_umap_recall15", 1)),
    "bigmap_draw_ratio": ("<= 2 (70,000 points against 10,000)", lambda f: f["bigmap_draw_ratio"] <= 2),
    "bigmap_click_ms": ("< 150 (the slider budget)", lambda f: f["bigmap_click_ms"] < 150),
    "projection_cached_s": ("< 0.2", lambda f: f["projection_cached_s"] < 0.2),
    "time_to_quality_ratio": ("< 1.0 (aim 0.5)", lambda f: f["time_to_quality_ratio"] < 1.0),
    "peak_rss_mb": ("< 1536", lambda f: f["peak_rss_mb"] < 1536),
    "train_page_epoch_ratio": ("<= 1.2", lambda f: f["train_page_epoch_ratio"] <= 1.2),
    "gpu_train_epoch_s": ("< 1 on an H100-class GPU", lambda f: f["gpu_train_epoch_s"] < 1.0),
    "users_errors": ("0", lambda f: f["users_errors"] == 0),
    "users_isolation_problems": ("0", lambda f: f["users_isolation_problems"] == 0),
    "users_roundtrip_p95_ms": ("< 1000", lambda f: f["users_roundtrip_p95_ms"] < 1000),
    "onnx_slider_ratio": ("<= 1 (ONNX Runtime no slower)", lambda f: f["onnx_slider_ratio"] <= 1.0),
    "onnx_map_ratio": ("<= 1 (ONNX Runtime no slower)", lambda f: f["onnx_map_ratio"] <= 1.0),
    "folder_first_load_ratio": ("<= 1.5", lambda f: f["folder_first_load_ratio"] <= 1.5),
    "folder_second_load_s": ("< 0.5", lambda f: f["folder_second_load_s"] < 0.5),
    "serve_sessions_held": ("all of serve_sessions", lambda f: f["serve_sessions_held"] >= f["serve_sessions"]),
    "serve_errors": ("0", lambda f: f["serve_errors"] == 0),
    "serve_isolation_problems": ("0", lambda f: f["serve_isolation_problems"] == 0),
    "serve_roundtrip_p95_ms": ("< 1000 with one replica per core (saturated: no pause)",
                               lambda f: f["serve_roundtrip_p95_ms"] < 1000),
    "serve_class_roundtrip_p95_ms": ("< 1000 with one replica per core, a pause of about 1 s after each answer",
                                     lambda f: f["serve_class_roundtrip_p95_ms"] < 1000),
    "serve_class_errors": ("0", lambda f: f["serve_class_errors"] == 0),
    "serve_kill_errors_others": ("0", lambda f: f["serve_kill_errors_others"] == 0),
    "serve_kill_came_back": ("all of serve_kill_sessions_on_killed",
                             lambda f: f["serve_kill_came_back"] >= f["serve_kill_sessions_on_killed"]),
}


def judge(figures: dict) -> dict[str, dict]:
    """Each figure that has a target: its value, the target, and whether it is met (None: cannot tell)."""
    out = {}
    for name, (target, test) in TARGETS.items():
        if name not in figures:
            continue
        try:
            met = bool(test(figures))
        except (KeyError, TypeError):
            met = None
        out[name] = {"value": figures[name], "target": target, "met": met}
    return out


def table(result: dict) -> str:
    """The figures as aligned text: figure, value, target, met."""
    rows = [("figure", "value", "target", "met")]
    judged = result["targets"]
    for name, value in result["figures"].items():
        t = judged.get(name)
        shown = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        rows.append((name, shown, t["target"] if t else "", ("yes" if t["met"] else "NO") if t and t["met"] is not None else ""))
    for name, why in result["skipped"].items():
        rows.append((name, "skipped", why, ""))
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    m = result["machine"]
    lines.append(f"load average {m['load_average_start']} -> {m['load_average_end']}, {m['cpus']} CPUs, "
                 f"{m['seconds']} s in all")
    return "\n".join(lines)
