"""`python -m explorer bench`: the figures a user feels, each measured beside its baseline in one run.

    python -m explorer bench                          # everything (several minutes)
    python -m explorer bench --only projection,train  # some groups
    python -m explorer bench --quick --only cached    # small settings: a smoke test

Groups and their figures (a figure's baseline is measured in the same run, alternating
with it, and every figure is a median over `--repeats` runs):

    map         time_to_map_s, time_to_map_ratio: `streamlit run explorer/app.py` started to the
                latent map's plotly scatter drawn in headless Chromium, against a minimal
                Streamlit page drawing a 10,000-point scatter; time_to_map_cold_s,
                time_to_map_cold_ratio: the same from an empty cache dir (a fresh machine),
                once; peak_rss_mb: the app server's process tree after every page was
                opened once
    slider      slider_roundtrip_ms: a Traverse slider moved in the browser until the new
                decoded image is shown (median of 20 moves); slider_server_ms: the fragment's
                own rerun time for those moves, read from the server's timing log
    projection  projection_umap_s, projection_tsne_s: a fresh process mapping the test codes
                of the 16-D vae with the cache off, against umap-learn's and scikit-learn's
                defaults in a fresh process; trustworthiness (k = 10) of each map. Ours is
                timed cold: numba's on-disk cache (NUMBA_CACHE_DIR) is a new empty dir, so
                the compile counts; projection_umap_warm_s is a second fresh process once
                that cache is filled, as every map after the first one on a machine is
    cached      projection_cached_s: the same map again, read from the cache
    train       train_epoch_s, time_to_quality_ratio: the conv vae against the reference MLP
                VAE (explorer/training/reference.py), both trained in this run
    gpu         gpu_train_epoch_s: one epoch of the conv vae on CUDA (skipped without CUDA)
    ddp         ddp_train_s, ddp_speedup: the conv vae trained on two processes (torchrun, DDP: one a
                GPU, else two one-thread CPU processes on gloo) against one process, same global
                batch; ddp_test_neg_elbo beside single_test_neg_elbo (explorer/tooling/bench/ddp.py)
    users       many_users: N browser sessions at once, driven by explorer/tooling/loadclient/;
                with the server's own CPU use and time per page run and per slider move
    folder      folder_first_load_s, folder_first_load_ratio: 20,000 small PNGs in a folder loaded
                at side 32 in a fresh process with an empty cache, against a plain loop of Pillow
                decoding the same files; folder_second_load_s: the same folder from the cache;
                folder_serial_decode_s: our decoding on one thread (explorer/tooling/bench/folder.py)
    serve       serve_r<N>_*: a class through `python -m explorer serve` (HAProxy, sticky cookies) with
                1 replica and with one per core, --serve-sessions sessions (60; 3 of them Chromium
                pages): sessions held, errors, isolation problems, p50/p95 slider round trip,
                reruns served per second, serve_r<N>_health_p95_ms/_max_ms (a replica's health check
                under the load: the supervisor kills one after 3 misses of 5 s); serve_kill_*: replica
                r0 killed halfway through a run of
                websocket sessions that reconnect as the page does: how many came back on another
                replica, and the errors of every other session
    reruns      rerun_<page>_ms: one warm full run of each page, the app's own time (median),
                measured in a fresh process with Streamlit's AppTest (explorer/tooling/reruns.py)
    onnx        onnx_slider_ms, onnx_map_s: one slider move's decode + classify, and encoding the
                test set plus a PCA map, for an ONNX copy of vae-16d and its classifier on ONNX
                Runtime, beside torch_slider_ms, torch_map_s for the originals (onnx_*_ratio)
    bigmap      bigmap_umap_s against umap-learn on the 70,000 Fashion-MNIST codes, with each map's
                trustworthiness; bigmap_draw_ratio: the 70,000-point map's first draw in Chromium
                against the 10,000-point one (explorer/tooling/bench/bigmap.py)
    bigmap_click
                bigmap_click_ms, bigmap_click_test_ms: a click on a point of the 70,000-point map
                and of the 10,000-point map to its picture beside the map, alternating; with how
                often the map was drawn again, the bytes sent, and the server's time for the run;
                over the training set's passes kept in the cache dir (bench-bigmap/), so only the
                first run computes them (explorer/tooling/bench/bigmap_click.py)

The JSON object goes to stdout (and to --out), the readable table to stderr. Nothing here
asserts a time: the figures are printed with their targets, and whether each is met.
Only the subprocesses this launches import streamlit.

One module per group (time_to_map, slider, projection, training, users, serve, page_runs, onnx, folder), what they
share in common.py, the targets and the table in report.py, the groups' order and the command
line in runner.py; servers, browsers and /proc come from explorer/tooling/harness.py.
"""
from __future__ import annotations

from explorer.tooling.bench.report import TARGETS, judge, table
from explorer.tooling.bench.runner import GROUP_FIGURES, GROUPS, main, parse_only, run

__all__ = ["GROUPS", "GROUP_FIGURES", "TARGETS", "judge", "main", "parse_only", "run", "table"]
