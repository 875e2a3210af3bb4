"""A server that stops: Streamlit's own shutdown on SIGTERM or SIGINT, bounded by a grace period.

Written for Streamlit WRITTEN_FOR (1.67.0, serving through uvicorn 0.54); `install()` leaves any
other version alone and logs it.

Upstream behaviour in 1.67.0: web/bootstrap.py installs SIGTERM/SIGINT/SIGQUIT handlers that call
Server.stop(), which only sets uvicorn's `should_exit`. uvicorn's Server.shutdown() then waits for
every open connection and every request task to finish, for as long as
Config.timeout_graceful_shutdown allows, and Streamlit leaves that at None: no limit. Only after
that does the lifespan shutdown stop Streamlit's runtime (sessions, file watchers). So one
connection or task that never finishes (a websocket whose handler is stuck, a browser closed
mid-run on a loaded machine) keeps the process alive for ever, its main thread idle in the event
loop, no script thread, the file watchers still running. Further signals do not help: they call
Server.stop() again, and uvicorn's own second-signal `force_exit` is never set, because
Streamlit's handlers replace uvicorn's.

What `install()` adds, once per process: on the server's event loop (the main thread, the only
one where Python lets a signal handler be set) it wraps Streamlit's SIGTERM and SIGINT handlers.
The first signal runs Streamlit's handler as before and starts a daemon watchdog thread that
ends the process with os._exit(128 + signal) if it is still alive `grace_s` seconds later; a
second signal ends it at once. A shutdown that finishes in time exits as Streamlit's does.

It reads one private attribute of 1.67.0: Runtime._get_async_objs().eventloop, the loop the
server runs on.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

_LOG = logging.getLogger(__name__)
WRITTEN_FOR = "1.67.0"  # the Streamlit whose shutdown this bounds
GRACE_S = 8.0  # below the harness's 15 s before it kills the process group
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_LOCK = threading.Lock()        # app.py calls install() from every session's script thread
_ASKED = threading.Event()      # install() has asked the event loop to wrap the handlers
_STOPPING = threading.Event()   # a first signal has come


def install(grace_s: float = GRACE_S) -> bool:
    """Bound the server's shutdown to `grace_s` seconds after the first SIGTERM/SIGINT (once per
    process). False, changing nothing, on another Streamlit or without a running server (AppTest)."""
    import streamlit
    from streamlit import runtime

    with _LOCK:
        if _ASKED.is_set():
            return True
        if streamlit.__version__ != WRITTEN_FOR:
            _ASKED.set()
            _LOG.warning("bounded shutdown not installed: written for Streamlit %s, this is %s",
                         WRITTEN_FOR, streamlit.__version__)
            return False
        if not runtime.exists():
            return False
        try:
            loop = runtime.get_instance()._get_async_objs().eventloop
        except (AttributeError, RuntimeError) as e:  # not 1.67.0's runtime after all, or not started
            _LOG.warning("bounded shutdown not installed: %s", e)
            return False
        loop.call_soon_threadsafe(wrap_handlers, grace_s)
        _ASKED.set()
        return True


def wrap_handlers(grace_s: float) -> None:
    """On the main thread: put bounded() around the SIGTERM and SIGINT handlers in place."""
    for sig in SIGNALS:
        signal.signal(sig, bounded(signal.getsignal(sig), grace_s))


def bounded(previous, grace_s: float):
    """A signal handler: the first signal starts the watchdog and runs `previous`; the next ends
    the process now."""
    def handler(signum, frame):
        if _STOPPING.is_set():
            end_now(signum, "a second signal came while the server was stopping")
        _STOPPING.set()
        threading.Thread(target=_watchdog, args=(signum, grace_s), name="explorer-shutdown-watchdog",
                         daemon=True).start()
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL or SIG_IGN: nobody stops the server, so the grace period is all there is
            _LOG.warning("signal %s had no handler to chain; ending in %.0f s", signum, grace_s)
    return handler


def _watchdog(signum: int, grace_s: float) -> None:
    time.sleep(grace_s)
    end_now(signum, f"the server had not stopped {grace_s:.0f} s after signal {signum}")


def end_now(signum: int, why: str) -> None:
    """Leave the process at once (no cleanup can hang it), exit status 128 + signal."""
    # os.write, not print: a handler may interrupt a print on the main thread (a reentrant write)
    os.write(2, f"  Stopping now: {why}.\n".encode())
    os._exit(128 + signum)
