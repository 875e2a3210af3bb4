"""One computation per cache entry across processes (explorer/core/diskcache.once): the replicas
of `python -m explorer serve` share a cache dir, so when two ask for the same arrays or the same
map at once, one computes and writes it while the other waits and reads it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from explorer.core import arraycache, diskcache
from explorer.maps import projection
from explorer.tooling.harness import REPO, repo_env

# Each process asks for the same entry; `compute` notes its pid in a shared log and takes a while,
# long enough that the other process asks while the first still computes.
ASK = """
import json, os, sys, time
import numpy as np
from explorer.core import arraycache
log, root, go = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.005)
def compute():
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)
    return (np.arange(1000, dtype=np.float32) * 2,)
(a,) = arraycache.arrays("encode", "model@1", "data", compute, root=root)
print(json.dumps({"sum": float(a.sum()), "pid": os.getpid()}))
"""


@pytest.mark.slow
def test_two_processes_asking_for_the_same_arrays_compute_them_once(tmp_path):
    log, go = tmp_path / "computed.log", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", ASK, str(log), str(tmp_path / "cache"), str(go)], cwd=REPO,
                              env=repo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    go.touch()  # both start asking at the same moment, imports done
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(log.read_text().split()) == 1, "both processes computed the entry"
    assert outs[0]["sum"] == outs[1]["sum"] == float((np.arange(1000) * 2).sum())
    written = list((tmp_path / "cache" / "arrays").glob("encode-*.npz"))
    assert len(written) == 1 and not list((tmp_path / "cache" / "arrays").glob("*.tmp-*"))


def test_a_waiter_reads_what_the_lock_holder_wrote_instead_of_computing(tmp_path):
    path = tmp_path / "entry.npy"
    calls = []

    def make():
        calls.append(1)
        diskcache.write_npy(path, np.ones(3))
        return np.ones(3)

    with diskcache.exclusive(path) as held:  # another process's lock: a second open file, as flock sees it
        assert held
        diskcache.write_npy(path, np.full(3, 7.0))  # ... which writes the entry while holding it
    got = diskcache.once(path, lambda: diskcache.read_npy(path), make)
    assert calls == [] and got.tolist() == [7.0, 7.0, 7.0]


def test_a_lock_held_too_long_costs_time_never_a_hang(tmp_path):
    path = tmp_path / "entry.npy"
    with diskcache.exclusive(path):
        # flock locks belong to open files, so this second open waits like another process would
        got = diskcache.once(path, lambda: diskcache.read_npy(path), lambda: np.zeros(2), wait_s=0.2)
    assert got.tolist() == [0.0, 0.0]


def test_a_read_only_folder_still_gets_its_map(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        proj = projection.project(np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32), "pca",
                                  cache_dir=folder)
    finally:
        os.chmod(folder, 0o755)
    assert proj.coords.shape == (40, 2)
    if os.geteuid() != 0:  # root writes anyway
        assert "cache_error" in proj.extra


def test_no_lock_file_is_left_in_the_cache_dir(tmp_path):
    path = arraycache.cache_path("encode", "m", "d", tmp_path)
    arraycache.arrays("encode", "m", "d", lambda: (np.ones(2),), root=tmp_path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# A folder dataset asked for by two processes at once: `progress(0, n)` is said when a process
# starts decoding (explorer/data/folder_decode.decode_all), so the log counts decodes; the first
# decoder then takes a while, as a large folder would, so the second asks while it still decodes.
ASK_FOLDER = """
import json, os, sys, time
from explorer.data import folder_dataset_id, load_dataset
log, folder, go = sys.argv[1], sys.argv[2], sys.argv[3]
while not os.path.exists(go):
    time.sleep(0.005)
def progress(done, total):
    if done == 0:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
test = load_dataset(folder_dataset_id(folder, 32), "test", progress=progress)
print(json.dumps({"labels": test.labels.tolist(), "sum": int(test.pixels.sum())}))
"""


@pytest.mark.slow
def test_two_processes_asking_for_the_same_folder_decode_it_once(tmp_path):
    folder, cache, log, go = tmp_path / "pets", tmp_path / "cache", tmp_path / "decoded.log", tmp_path / "go"
    for label, colour in (("cats", (220, 40, 40)), ("dogs", (40, 40, 220))):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20 + i, 24), colour).save(folder / label / f"{i}.png")
    env = {**repo_env(), "EXPLORER_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", ASK_FOLDER, str(log), str(folder), str(go)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(log.read_text().split()) == 1, "both processes decoded the folder"
    assert outs[0] == outs[1] and len(outs[0]["labels"]) == 2
    kept = sorted(p.name for p in (cache / "folders").iterdir())
    assert len(kept) == 2 and kept[1].startswith("split-"), kept  # the decoded folder and its split; no lock
