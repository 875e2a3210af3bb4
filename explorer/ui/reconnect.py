"""A browser whose server no longer holds its session reloads its page, rather than keep showing
the last run of a session that is gone.

Written for Streamlit WRITTEN_FOR (1.67.0); `install()` leaves any other version alone and logs
it. It matters behind `python -m explorer serve`: when a replica dies, HAProxy sends its
browsers to another (option redispatch), and this is what makes their pages come back there.

Upstream behaviour in 1.67.0: a browser whose websocket drops reconnects by itself and passes
the id of its last session (the third Sec-WebSocket-Protocol entry). A server that does not hold
that session (another replica, or this one restarted) quietly makes a new, empty one
(WebsocketSessionManager.connect_session), and the frontend, which asks for a run on reconnect
only when it has never had a session (App.handleConnectionStateChanged in the bundled
static/js/index.*.js), sends nothing. So the page keeps the dead session's elements: its
pictures (/media/, kept in the dead process) answer 404, parts not yet loaded fail, and nothing
runs until the user moves a widget.

What `install()` changes, once per process: when Runtime.connect_session is asked to resume a
session and hands out a different one, the browser is sent the frontend's own redirect message
(ForwardMsg.auth_redirect) with an empty URL, which the frontend assigns to
window.location.href: the same URL, so the page reloads, with its query string (the app keeps
the chosen checkpoint and page there), and starts a fresh session. Slider positions are lost.
Sessions that resume, and new browsers (no id passed), are untouched.

`python -m explorer serve` starts its replicas through explorer/cli/serve/launch.py, which calls
install() before the server takes a connection (a restarted replica's first connections may be
a dead one's browsers); app.py calls it too, for a plain `streamlit run`, where it is in place
from the first page run on.
"""
from __future__ import annotations

import functools
import logging
import threading

_LOG = logging.getLogger(__name__)
WRITTEN_FOR = "1.67.0"
_MARK = "_explorer_reload_orphans"
_LOCK = threading.Lock()  # app.py calls install() from every session's script thread
_SAID: list[bool] = []    # the other-version warning, logged once per process


def install() -> bool:
    """Make browsers whose session this server does not hold reload their page (once per
    process). False, changing nothing, on another Streamlit."""
    import streamlit
    from streamlit.runtime.runtime import Runtime

    with _LOCK:
        if getattr(Runtime.connect_session, _MARK, False):
            return True
        if streamlit.__version__ != WRITTEN_FOR:
            if not _SAID:
                _LOG.warning("reload of orphaned pages not installed: written for Streamlit %s, this is %s",
                             WRITTEN_FOR, streamlit.__version__)
                _SAID.append(True)  # say it once
            return False
        Runtime.connect_session = reloading(Runtime.connect_session)
        return True


def reloading(connect_session):
    """Runtime.connect_session that tells a browser to reload when its session was not resumed."""
    @functools.wraps(connect_session)
    def connect(self, client, user_info, existing_session_id=None, session_id_override=None):
        session_id = connect_session(self, client, user_info, existing_session_id=existing_session_id,
                                     session_id_override=session_id_override)
        if existing_session_id and session_id != existing_session_id:
            _LOG.info("a browser asked for session %s, which this server does not hold: reloading its page",
                      existing_session_id)
            client.write_forward_msg(reload_message())
        return session_id

    setattr(connect, _MARK, True)
    return connect


def reload_message():
    """The ForwardMsg that makes 1.67.0's frontend load its own URL again."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    msg.auth_redirect.url = ""
    msg.auth_redirect.SetInParent()  # an empty URL leaves the field unset otherwise
    return msg
