"""Running the bench: the groups in their order, what each reports, the command line."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from explorer.tooling.bench.bigmap import bench_bigmap, bench_umap
from explorer.tooling.bench.bigmap_click import bench_click
from explorer.tooling.bench.common import Report, Settings, load_average
from explorer.tooling.bench.onnx import bench_onnx
from explorer.tooling.bench.folder import bench_folder
from explorer.tooling.bench.ddp import bench_ddp
from explorer.tooling.bench.page_runs import bench_reruns
from explorer.tooling.bench.projection import bench_cached, bench_projection
from explorer.tooling.bench.report import judge, table
from explorer.tooling.bench.serve import bench_serve
from explorer.tooling.bench.slider import bench_slider
from explorer.tooling.bench.time_to_map import bench_map
from explorer.tooling.bench.train_page import bench_train_page
from explorer.tooling.bench.training import bench_gpu, bench_train
from explorer.tooling.bench.users import bench_users

BENCHES: dict[str, Callable[[Settings, Report, Path], None]] = {
    "map": bench_map, "slider": bench_slider, "projection": bench_projection, "cached": bench_cached,
    "train": bench_train, "trainpage": bench_train_page, "gpu": bench_gpu, "ddp": bench_ddp, "users": bench_users, "reruns": bench_reruns,
    "onnx": bench_onnx,
    "folder": bench_folder,
    "serve": bench_serve,
    "bigmap": bench_bigmap,
    "bigmap_umap": bench_umap,
    "bigmap_click": bench_click,
}
# what each group reports, so a group that fails names what is missing
GROUP_FIGURES = {
    "map": ["time_to_map_s", "time_to_map_ratio", "peak_rss_mb"],
    "slider": ["slider_roundtrip_ms", "slider_server_ms"],
    "projection": ["projection_umap_s", "projection_tsne_s"],
    "cached": ["projection_cached_s"],
    "train": ["train_epoch_s", "time_to_quality_ratio"],
    "trainpage": ["train_page_epoch_ratio"],
    "gpu": ["gpu_train_epoch_s"],
    "ddp": ["ddp_train_s", "single_train_s", "single_1thread_train_s", "ddp_speedup", "ddp_test_neg_elbo", "single_test_neg_elbo"],
    "users": ["users_errors", "users_isolation_problems", "users_roundtrip_p95_ms"],
    "reruns": ["rerun_traverse_ms"],
    "onnx": ["onnx_slider_ms", "onnx_map_s"],
    "folder": ["folder_first_load_ratio", "folder_second_load_s"],
    "serve": ["serve_sessions_held", "serve_errors", "serve_isolation_problems", "serve_roundtrip_p95_ms",
              "serve_kill_errors_others"],
    "bigmap": ["bigmap_umap_s", "bigmap_draw_ratio"],
    "bigmap_umap": ["bigmap_umap_s"],
    "bigmap_click": ["bigmap_click_ms", "bigmap_click_test_ms"],
}
GROUPS = tuple(BENCHES)


def parse_only(text: str | None) -> list[str]:
    """The groups to run, in the order of GROUPS; ValueError names an unknown one."""
    if not text:
        return list(GROUPS)
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in GROUPS]
    if unknown:
        raise ValueError(f"unknown bench group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return [g for g in GROUPS if g in wanted]


def run(groups: list[str], settings: Settings, progress: Callable[[str], None] = lambda m: None) -> dict:
    """Run the chosen groups; returns the report as a JSON-ready dict."""
    import torch

    rep = Report()
    started = time.time()
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as tmp:
        for g in groups:
            progress(f"bench: {g}...")
            work = Path(tmp) / g
            work.mkdir()
            t0 = time.perf_counter()
            try:
                BENCHES[g](settings, rep, work)
            except Exception as e:  # one broken group must not lose the others' figures
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]
                for name in GROUP_FIGURES[g]:
                    if name not in rep.figures:
                        rep.skipped.setdefault(name, f"failed: {reason}")
            rep.details.setdefault("group_seconds", {})[g] = round(time.perf_counter() - t0, 1)
    return {
        "figures": rep.figures,
        "targets": judge(rep.figures),
        "skipped": rep.skipped,
        "settings": {"groups": groups, "repeats": settings.repeats, "quick": settings.quick},
        "machine": {"cpus": os.cpu_count(), "load_average_start": load_start, "load_average_end": load_average(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                    "seconds": round(time.time() - started, 1)},
        "details": rep.details,
    }


def build_parser() -> argparse.ArgumentParser:
    """The bench's options."""
    b = argparse.ArgumentParser(prog="python -m explorer bench",
                                description="speed and memory figures, each beside its baseline (JSON on stdout, a table on stderr)")
    b.add_argument("--only", default=None,
                   help=f"comma-separated groups: {', '.join(GROUPS)}")
    b.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    b.add_argument("--quick", action="store_true", help="small settings: a smoke test, not figures to quote")
    b.add_argument("--users", type=int, default=20, help="users: how many sessions the load test drives")
    b.add_argument("--serve-sessions", type=int, default=60, help="serve: sessions through the balancer")
    b.add_argument("--out", default=None, help="also write the JSON to this file")
    return b


def main(argv: list[str] | None = None) -> int:
    """`python -m explorer bench [...]`: run the groups asked for, print the JSON and the table."""
    args = build_parser().parse_args(argv)
    try:
        groups = parse_only(args.only)
        if args.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
        if args.users < 1 or args.serve_sessions < 1:
            raise ValueError(f"--users and --serve-sessions must be at least 1, got {args.users}, {args.serve_sessions}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = Settings(repeats=args.repeats, quick=args.quick, users=args.users, serve_sessions=args.serve_sessions)
    try:
        result = run(groups, settings, progress=lambda m: print(m, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    text = json.dumps(result, indent=2)
    if args.out:
        from explorer.core.atomic import write_text
        try:
            write_text(Path(args.out), text + "\n")
        except OSError as e:
            print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
            return 2
    print(table(result), file=sys.stderr)
    print(text)
    return 0

