"""Bad data files where tests/test_data.py does not reach: in the app (a page, not a traceback),
through the real `python -m explorer fetch-data` (a wrong checksum; a download killed halfway,
again and again), each naming the file and leaving nothing half-written in place.

Downloads come from a local HTTP server on 127.0.0.1 serving the real Fashion-MNIST files from
the Debian package, so the real checksums apply.
"""
from __future__ import annotations

import json
import hashlib
import http.server
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.data import get_spec, write_idx
from helpers import APP, REPO, chart_spec

FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_FILES = {"train-images-idx3-ubyte.gz": (60_000, 28, 28), "train-labels-idx1-ubyte.gz": (60_000,),
               "t10k-images-idx3-ubyte.gz": (10_000, 28, 28), "t10k-labels-idx1-ubyte.gz": (10_000,)}


# ---------------------------------------------------------------- in the app

def write_mnist_like(directory: Path) -> dict[str, Path]:
    """Four valid (blank) MNIST-shaped files; a test then damages one."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, shape in MNIST_FILES.items():
        paths[name] = directory / name
        write_idx(paths[name], np.zeros(shape, np.uint8))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "wrong magic", "count mismatch"])
def test_a_broken_data_file_is_a_message_in_the_page_naming_it(tiny_checkpoints, tmp_path, monkeypatch, damage):
    data_dir = tmp_path / "data"
    paths = write_mnist_like(data_dir / "mnist")
    images, labels = paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"]
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:200])
        named = images
    elif damage == "wrong magic":
        write_idx(labels.with_name("t10k-labels-idx1-ubyte"), np.zeros(10_000, np.uint8))
        labels.unlink()
        raw = labels.with_name("t10k-labels-idx1-ubyte")
        raw.write_bytes(b"\x00\x00\x0d\x01" + raw.read_bytes()[4:])
        named = raw
    else:
        write_idx(labels, np.zeros(9_999, np.uint8))
        named = labels
    for k, v in {"EXPLORER_CHECKPOINTS": str(tiny_checkpoints), "EXPLORER_CHECKPOINTS_ONLY": "1",
                 "EXPLORER_CACHE_DIR": str(tmp_path / "cache"), "EXPLORER_DATA_DIR": str(data_dir)}.items():
        monkeypatch.setenv(k, v)
    from explorer.ui import cache
    cache.available.clear()
    cache.test_set.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.session_state["map_method"] = "pca"
        at.run()
        at.sidebar.selectbox(key="sb_dataset").set_value("mnist").run()
        assert not at.exception, at.exception
        errors = " ".join(e.value for e in at.error)
        assert "mnist test set cannot be loaded" in errors and str(named) in errors, errors
        at.sidebar.selectbox(key="sb_dataset").set_value("digits").run()  # the rest of the app still works
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert json.loads(chart_spec(at))["data"], "the digits map is shown again"
        assert at.sidebar.selectbox(key="sb_vae").value.parent.name == "digits"
    finally:
        cache.available.clear()
        cache.test_set.clear()


# ---------------------------------------------------------------- downloads through the CLI

class SlowServer:
    """Serves a directory on 127.0.0.1, `chunk` bytes every `pause` seconds; `corrupt` names get
    one byte flipped."""

    def __init__(self, root: Path, chunk: int = 1 << 16, pause: float = 0.0, corrupt: tuple[str, ...] = ()):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = root / self.path.rsplit("/", 1)[-1]
                if not path.is_file():
                    self.send_error(404)
                    return
                body = bytearray(path.read_bytes())
                if path.name in corrupt:
                    body[len(body) // 2] ^= 0xFF
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), chunk):
                        self.wfile.write(body[i:i + chunk])
                        time.sleep(pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        del server

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def fetch_cli(target: Path, mirror: str, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "EXPLORER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("EXPLORER_DATA_DIR", None)
    return subprocess.Popen([sys.executable, "-m", "explorer", "fetch-data", "fashion-mnist", "--data-dir", str(target),
                             "--mirror", mirror, "--force"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def verified(directory: Path) -> dict[str, bool]:
    """Each file present in the dataset folder: does its SHA-256 match the registry's?"""
    want = {f.filename: f.sha256 for f in get_spec("fashion-mnist").files}
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() == want.get(p.name)
            for p in directory.iterdir() if not p.name.endswith(".part")} if directory.exists() else {}


needs_fashion = pytest.mark.skipif(not (FASHION / "t10k-labels-idx1-ubyte.gz").is_file(),
                                   reason="serves the Debian package's Fashion-MNIST files (dataset-fashion-mnist)")


@needs_fashion
@pytest.mark.slow
def test_fetch_data_refuses_files_that_fail_their_checksum_and_keeps_nothing(tmp_path):
    # Debian's package re-compresses the files, so they do not match the official checksums:
    # a mirror serving them is a mirror serving the wrong bytes.
    server = SlowServer(FASHION)
    try:
        proc = fetch_cli(tmp_path / "data", server.url, tmp_path)
        out, err = proc.communicate(timeout=300)
    finally:
        server.close()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "could not download train-images-idx3-ubyte.gz" in err and "checksum mismatch" in err, err
    assert server.url in err and "fetch-data" in err
    assert list((tmp_path / "data" / "fashion-mnist").iterdir()) == [], "a file that failed its checksum was kept"


KILLABLE_FETCH = """
import dataclasses, hashlib, sys
from pathlib import Path
from explorer.data import fetch, get_spec
source, target, mirror = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
spec = get_spec("fashion-mnist")
files = tuple(dataclasses.replace(f, sha256=hashlib.sha256((source / f.filename).read_bytes()).hexdigest())
              for f in spec.files)
fetch(dataclasses.replace(spec, files=files), data_dir=target, mirrors=[mirror])
print("done")
"""


@needs_fashion
@pytest.mark.slow
def test_a_download_killed_halfway_leaves_only_whole_verified_files_and_then_completes(tmp_path):
    """fetch() in a real process, with the checksums of the files served, SIGKILLed at random."""
    rng = random.Random(11)
    target = tmp_path / "data" / "fashion-mnist"
    want = {name: hashlib.sha256((FASHION / name).read_bytes()).hexdigest() for name in MNIST_FILES}
    server = SlowServer(FASHION, chunk=1 << 16, pause=0.02)  # ~3 MB/s: the 26 MB file takes ~8 s
    env = {**os.environ, "PYTHONPATH": str(REPO), "EXPLORER_CACHE_DIR": str(tmp_path / "cache")}

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", KILLABLE_FETCH, str(FASHION), str(tmp_path / "data"),
                                 server.url], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def in_place() -> dict[str, bool]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() == want.get(p.name)
                for p in target.iterdir() if not p.name.endswith(".part")} if target.exists() else {}

    kills = []
    try:
        for _ in range(4):
            proc = start()
            delay = rng.uniform(0.5, 7.0)
            time.sleep(delay)
            killed = proc.poll() is None
            if killed:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            files = in_place()
            kills.append((round(delay, 2), killed, sorted(files)))
            assert all(files.values()), f"a killed download left a file in place that is not whole: {files}"
        proc = start()
        out, err = proc.communicate(timeout=600)
    finally:
        server.close()
    print("kills (delay s, killed, whole files in place):", kills)
    assert proc.returncode == 0, err
    assert in_place() == {name: True for name in MNIST_FILES}
    assert not list(target.glob("*.part")), "the finished download left a partial file"
    assert sum(k[1] for k in kills) >= 3
    shutil.rmtree(tmp_path / "data")


# ---------------------------------------------------------------- a gzip bomb

BOMB_READER = """
import resource, sys
from explorer.data import DataError, read_idx
try:
    read_idx(sys.argv[1])
    print("read")
except DataError as e:
    print("refused:", str(e).splitlines()[0])
# VmHWM: this process's own peak. (ru_maxrss would also count the parent's size at fork, which
# Linux carries across exec: under a big pytest process it read 1 GB for a 550 MB peak.)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print("peak_mb", int(hwm[0].split()[1]) // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.slow
def test_a_gzip_bomb_is_refused_without_expanding_it(tmp_path):
    """2 GB of zeros behind a valid images header, compressed to ~2 MB: refused, memory bounded."""
    import struct
    import zlib

    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    with open(bomb, "wb") as f:
        f.write(comp.compress(struct.pack(">HBBIII", 0, 8, 3, 2_700_000, 28, 28)))
        for _ in range(2048):
            f.write(comp.compress(zeros))
        f.write(comp.flush())
    assert bomb.stat().st_size < 5 * 2**20
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", BOMB_READER, str(bomb)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"refused: {bomb}: decompresses to more than"), proc.stdout
    peak = int(lines[1].split()[1])
    assert peak < 1024, f"reading the bomb took {peak} MB"
