"""The supervisor's own health probe: a replica that is alive but no longer answers (hung,
stopped, its event loop blocked) is found here so that the supervisor can kill and restart it.

HAProxy's health checks only route new requests around such a replica; its process, memory and
sessions stay until someone ends it. Here one daemon thread asks every replica's
/_stcore/health in turn, each with a bounded timeout. A replica counts as hung after FAILURES
consecutive failed probes, and only once it has answered since its last start: a replica's
first start (importing Streamlit from a cold disk, on cores busy with the other replicas) may
take a long time before the server answers, and is not judged by this.

A start has its own bound instead: a replica that has not answered once within `start_timeout_s`
of its start (hung during its imports, stopped, stuck on a cold load) is `late`, and the
supervisor kills and restarts it like a hung one; each start is timed from its own beginning.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from explorer.cli.serve.replicas import Replica

PROBE_EVERY_S = 2.0
TIMEOUT_S = 5.0   # a busy replica (sixty sessions on two cores) still answers its health in well under this
FAILURES = 3      # consecutive: about 3 x (5 + 2) = 21 s without an answer
START_TIMEOUT_S = 180.0  # from a start to its first answer: generous, as a cold start on two busy cores can be slow


@dataclass
class _Record:
    starts: int = 0          # the replica's start this record is about
    answered: bool = False   # has answered since that start
    failures: int = 0        # consecutive failed probes since it last answered


class HealthProbe:
    """Probes `reps` from a daemon thread until `stop()`; `hung(r)` says whether `r` has stopped
    answering after it had answered once since its last start, `late(r)` whether it has not
    answered once within `start_timeout_s` of its last start."""

    def __init__(self, reps: list[Replica], every_s: float = PROBE_EVERY_S, timeout_s: float = TIMEOUT_S,
                 failures: int = FAILURES, start_timeout_s: float = START_TIMEOUT_S):
        self.reps, self.every_s, self.timeout_s, self.failures = reps, every_s, timeout_s, failures
        self.start_timeout_s = start_timeout_s
        self._records = {r.name: _Record() for r in reps}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-health", daemon=True)

    def start(self) -> "HealthProbe":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()

    def hung(self, rep: Replica) -> bool:
        with self._lock:
            rec = self._records[rep.name]
            return rec.starts == rep.starts and rec.answered and rec.failures >= self.failures

    def late(self, rep: Replica, now: float | None = None) -> bool:
        """Whether `rep` was last started more than `start_timeout_s` before `now`
        (time.monotonic()) and has not answered a probe since that start."""
        now = time.monotonic() if now is None else now
        with self._lock:
            rec = self._records[rep.name]
            answered = rec.starts == rep.starts and rec.answered
        return rep.starts > 0 and not answered and now - rep.started > self.start_timeout_s

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            for rep in self.reps:
                if rep.proc is None or rep.exited() is not None:
                    continue
                starts = rep.starts
                ok = rep.healthy(self.timeout_s)
                if rep.starts == starts:  # not restarted while it was asked
                    self.record(rep, starts, ok)

    def record(self, rep: Replica, starts: int, ok: bool) -> None:
        """What one probe of `rep`, in its start number `starts`, found."""
        with self._lock:
            rec = self._records[rep.name]
            if rec.starts != starts:  # a new start: judge it afresh
                self._records[rep.name] = rec = _Record(starts)
            rec.answered |= ok
            rec.failures = 0 if ok else rec.failures + 1
