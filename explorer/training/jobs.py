"""Training runs in the background: one child process per run, watched through files.

The app (or a notebook) calls `start(spec)`; that writes the run's folder under
`runs_dir()` and starts `python -m explorer.training.jobs <run folder>`, a process of its own
that runs the same `train()` as the CLI, at the CLI's priority, so it trains at the CLI's speed
(the page keeps its own share small instead: it redraws the curves and the map once an epoch):

    <run folder>/spec.json       what to train and where the checkpoint goes
    <run folder>/status.json     where the run is: state, epoch, step, speed, history, message
    <run folder>/snapshots/      per epoch: reconstructions of fixed test images and a 2-D map
    <run folder>/cancel          present = please stop (the loop checks it every step)
    <run folder>/log.txt         the child's own output, for when something unexpected happens

A checkpoint is saved atomically after every completed epoch, so cancelling, a NaN, or a
killed process all leave the last completed epoch on disk; `resume` goes on from it. When a
run finishes, the test-set figures (`evaluate`) are written into the checkpoint.

This module is the app's side and the folder's layout; the child that trains is
explorer.training.worker, which `python -m explorer.training.jobs <run folder>` runs.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.core.atomic import write_text
from explorer.core.errors import ExplorerError
from explorer.core.jsonfile import parse_json, read_json
from explorer.core.npyfile import load_npz
from explorer.core.procs import pid_alive

SPEC_FILE = "spec.json"
STATUS_FILE = "status.json"
CANCEL_FILE = "cancel"
LOG_FILE = "log.txt"
SNAPSHOTS = "snapshots"
ACTIVE = ("starting", "running", "evaluating")
MAX_RUN_JSON_BYTES = 16 * 1024 * 1024  # a status holds the history of every epoch: a few kB each
MAX_ACTIVE = 2          # runs at once on one machine: more would only slow every one of them


class JobError(ExplorerError, ValueError):
    """A run that cannot be started (bad settings, name taken, too many runs); says what to do."""


@dataclass
class JobSpec:
    model: dict[str, Any]            # ModelConfig.to_dict()
    train: dict[str, Any]            # TrainConfig.to_dict()
    out: str                         # the checkpoint folder it trains into
    resume: bool = False             # go on from the checkpoint at `out`
    classifier: str | None = None    # judges a cvae's samples in the final evaluation
    iwae_k: int = 20                 # importance samples for the final IWAE figure (0: skip it)
    owner: str = ""                  # the session that started it
    threads: int = 0                 # torch threads in the child (0: torch's default)
    # The child's niceness. 0, as the CLI: a niced child gets only what the server and the browser
    # leave, and on a laptop they share its cores (docs/measurements.md, "Training on the Train page").
    nice: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "JobSpec":
        return cls.from_dict(parse_json(text, what="a run's spec", error=JobError))

    @classmethod
    def read(cls, path: Path) -> "JobSpec":
        """The spec in `path` (a run's spec.json); JobError when it cannot be read."""
        return cls.from_dict(read_json(path, what="a run's spec", max_bytes=MAX_RUN_JSON_BYTES, error=JobError))

    @classmethod
    def from_dict(cls, raw: Any) -> "JobSpec":
        if not isinstance(raw, dict):
            raise JobError(f"a run's spec must be a JSON object, not {type(raw).__name__}")
        if not isinstance(raw.get("out"), str):
            raise JobError("a run's spec names its checkpoint folder in 'out', a string")
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass
class Run:
    """A run as the app sees it: its folder and its latest status."""
    id: str
    dir: Path
    spec: JobSpec
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return str(self.status.get("state", "starting"))

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def out(self) -> Path:
        return Path(self.spec.out)

    @property
    def name(self) -> str:
        return self.out.name

    @property
    def history(self) -> list[dict]:
        history = self.status.get("history")
        return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


# ---------------------------------------------------------------- where runs live

def runs_dir() -> Path:
    """`$EXPLORER_RUNS_DIR`, else `<cache dir>/runs`."""
    env = os.environ.get("EXPLORER_RUNS_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    from explorer.core.paths import cache_dir
    return cache_dir() / "runs"


def _write_json_atomic(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1, default=_plain), fsync=False)


def _plain(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON: {type(o).__name__}")


def _read_json(path: Path) -> dict:
    try:
        raw = read_json(path, what="a run's status", max_bytes=MAX_RUN_JSON_BYTES, error=JobError)
        return raw if isinstance(raw, dict) else {}
    except JobError:  # missing, half-made or damaged: no status yet
        return {}


def write_status(run_dir: Path, status: dict[str, Any]) -> None:
    """Replace the run's status.json whole (readers see the old file or the new one)."""
    _write_json_atomic(run_dir / STATUS_FILE, status)


def read_status(run_dir: Path) -> dict:
    """The run's status.json; {} while there is none or it cannot be read."""
    return _read_json(run_dir / STATUS_FILE)


def snapshot_path(run_dir: Path, epoch: int) -> Path:
    """Where the snapshot of `epoch` lives in the run folder."""
    return run_dir / SNAPSHOTS / f"epoch-{epoch:04d}.npz"


# ---------------------------------------------------------------- a status in words

STATE_TEXT = {"starting": "starting", "running": "training", "evaluating": "measuring", "finished": "finished",
              "cancelled": "cancelled", "diverged": "stopped: NaN", "failed": "failed", "stopped": "stopped"}


def _fmt_s(s) -> str:
    """Seconds as '42 s' or '3 min 05 s'."""
    if s is None:
        return "-"
    s = int(round(float(s)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def progress_text(status: dict) -> tuple[float, str]:
    """The progress bar's fraction and words, for every phase of a run."""
    epochs, done = int(status.get("epochs") or 0), int(status.get("epoch_done") or 0)
    step, total = int(status.get("step") or 0), int(status.get("total_steps") or 0)
    state = status.get("state", "starting")
    if state == "starting" or not epochs:
        return 0.0, status.get("message") or "starting..."
    kept = f"the checkpoint keeps epoch {done}" if done else "no checkpoint yet"
    if state == "evaluating":
        frac = float(status.get("phase_done") or 0)
        left = f"{_fmt_s(status['eta_s'])} left" if status.get("eta_s") is not None else "estimating the time left"
        return frac, f"measuring the test-set figures (ELBO, IWAE) · {frac:.0%} · {left}"
    if state == "finished":
        return 1.0, f"finished: {done} of {epochs} epochs trained, measured on the test set"
    if state != "running":
        return done / epochs, f"{STATE_TEXT.get(state, state)} after epoch {done} of {epochs}; {kept}"
    epoch = min(max(int(status.get("epoch") or 0), done + 1), epochs)
    head = f"training epoch {epoch} of {epochs}; {kept} · step {step:,}/{total:,}"
    frac = min(1.0, step / total) if total else 0.0
    if status.get("phase") in ("saving", "snapshot"):
        return frac, f"{head} · saving the checkpoint and drawing the map..."
    if not status.get("images_per_s"):
        return frac, f"{head} · starting..."
    rate = float(status["images_per_s"])
    return frac, f"{head} · {rate:,.0f} images/s · {_fmt_s(status.get('eta_s'))} left"



# ---------------------------------------------------------------- the app's side

_PROCS: dict[str, subprocess.Popen] = {}  # children of this process, polled so none is left a zombie


def validate(spec: JobSpec) -> tuple[Any, Any]:
    """The typed configs of a spec, or JobError saying what is wrong with it."""
    from explorer.core.config import ConfigError, ModelConfig, TrainConfig
    try:
        return ModelConfig.from_dict(spec.model), TrainConfig.from_dict(spec.train)
    except (ConfigError, TypeError, ValueError, KeyError) as e:
        raise JobError(str(e)) from e


def start(spec: JobSpec, root: Path | None = None) -> Run:
    """Check the spec, then start its run in a child process and return at once."""
    validate(spec)
    out = Path(spec.out)
    if not out.name or out.name.startswith("."):
        raise JobError("give the checkpoint a name (letters, digits, '-' or '_')")
    active = [r for r in list_runs(root) if r.active]
    for r in active:
        if r.out.resolve() == out.resolve():
            raise JobError(f"a run is already training into {out.name} (run {r.id}); wait for it, "
                           "cancel it, or pick another name")
    if len(active) >= MAX_ACTIVE:
        raise JobError(f"{len(active)} runs are training already, the most this machine runs at once; "
                       "wait for one to finish or cancel one")
    if spec.resume:
        from explorer.checkpoints import CheckpointError, load_checkpoint
        try:
            ckpt = load_checkpoint(out, with_model=False)
        except CheckpointError as e:
            raise JobError(f"there is no checkpoint to resume at {out}: {e}") from e
        if not (out / "optimizer.safetensors").exists():
            raise JobError(f"{out.name} was saved without its optimizer state, so it cannot be resumed exactly; "
                           "train a new run instead")
        if ckpt.state.epoch >= int(spec.train.get("epochs", 0)):
            raise JobError(f"{out.name} has trained {ckpt.state.epoch} epochs already; ask for more epochs to go on")
    elif out.exists():
        raise JobError(f"a checkpoint named {out.name} already exists in {out.parent}; pick another name")

    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    run_dir = root / run_id
    (run_dir / SNAPSHOTS).mkdir(parents=True)
    (run_dir / SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
    _write_json_atomic(run_dir / STATUS_FILE, {"state": "starting", "message": "starting...", "run_id": run_id,
                                                "started": time.time(), "updated": time.time()})
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(run_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(child_command(spec, run_dir), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=repo)
    _PROCS[run_id] = proc
    return get(run_id, root)


def child_command(spec: JobSpec, run_dir: Path) -> list[str]:
    """The child that trains: `python -m explorer.training.jobs RUN`, under torchrun (one
    process a GPU, on a free port) when the spec trains on several processes."""
    from explorer.training.distributed import launcher  # torch is imported only where a run starts

    return [sys.executable, *launcher(int(spec.train.get("world_size", 1))), "-m", "explorer.training.jobs", str(run_dir)]


def cancel(run: Run) -> None:
    """Ask the run to stop; it keeps the last completed epoch."""
    (run.dir / CANCEL_FILE).touch()


def get(run_id: str, root: Path | None = None) -> Run:
    """The run with this id, with its status as of now. Raises JobError if there is none."""
    root = root or runs_dir()
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise JobError(f"no run {run_id!r}")
    run_dir = root / run_id
    try:
        spec = JobSpec.read(run_dir / SPEC_FILE)
    except (JobError, TypeError) as e:
        raise JobError(f"no run {run_id!r} in {root}") from e
    status = _read_json(run_dir / STATUS_FILE)
    run = Run(id=run_id, dir=run_dir, spec=spec, status=status)
    _check_alive(run)
    return run


def list_runs(root: Path | None = None, owner: str | None = None) -> list[Run]:
    """Runs under `root`, newest first; only `owner`'s when given."""
    root = root or runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for d in sorted(root.iterdir(), reverse=True):
        if (d / SPEC_FILE).is_file():
            try:
                run = get(d.name, root)
            except JobError:
                continue
            if owner is None or run.spec.owner == owner:
                runs.append(run)
    return runs


def _check_alive(run: Run) -> None:
    """A run whose process died without saying so (killed, out of memory) is marked stopped."""
    proc = _PROCS.get(run.id)
    if proc is not None and proc.poll() is not None:
        _PROCS.pop(run.id, None)
    if not run.active:
        return
    pid = _number(int, run.status.get("pid"), None)  # a status.json edited by hand may hold anything
    if proc is not None and proc.poll() is None:
        return
    if pid is None:  # not started yet: give the child a little while to say hello
        if time.time() - _number(float, run.status.get("started"), time.time()) < 60 or run.id in _PROCS:
            return
    elif pid_alive(pid):
        return
    epoch = _number(int, run.status.get("epoch_done") or 0, 0)
    run.status = {**run.status, "state": "stopped",
                  "message": (f"the training process stopped unexpectedly (see {run.dir / LOG_FILE}); "
                              + (f"the checkpoint keeps epoch {epoch}, and Resume goes on from it"
                                 if epoch else "no epoch had completed, so there is no checkpoint"))}
    try:
        _write_json_atomic(run.dir / STATUS_FILE, run.status)
    except OSError:
        pass


def _number(kind: type, value: Any, default: Any) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return default


def snapshot_epochs(run: Run) -> list[int]:
    out = []
    for p in (run.dir / SNAPSHOTS).glob("epoch-*.npz"):
        try:
            out.append(int(p.stem.split("-")[1]))
        except (IndexError, ValueError):
            continue
    return sorted(out)


def read_snapshot(run: Run, epoch: int | None = None) -> dict[str, np.ndarray] | None:
    """The snapshot of `epoch` (the latest when None): recon, images, coords, labels, epoch."""
    epochs = snapshot_epochs(run)
    if not epochs:
        return None
    epoch = epochs[-1] if epoch is None else epoch
    try:  # declared sizes checked before numpy allocates (a damaged file is no snapshot, not a crash)
        return load_npz(snapshot_path(run.dir, epoch), error=JobError)
    except JobError:
        return None


def wait(run: Run, states=("finished", "cancelled", "diverged", "failed", "stopped"), timeout: float = 60.0,
         poll: float = 0.2) -> Run:
    """Poll until the run reaches one of `states` (for notebooks and tests)."""
    deadline = time.monotonic() + timeout
    while True:
        run = get(run.id, run.dir.parent)
        if run.state in states or time.monotonic() > deadline:
            return run
        time.sleep(poll)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m explorer.training.jobs RUN_DIR", file=sys.stderr)
        sys.exit(2)
    from explorer.training.worker import run_child
    sys.exit(run_child(Path(sys.argv[1])))
