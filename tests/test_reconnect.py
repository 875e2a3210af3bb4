"""explorer/ui/reconnect.py: a browser whose session the server does not hold is told to reload;
one whose session is resumed, or a new one, is left alone."""
from __future__ import annotations

from explorer.ui import reconnect


class Client:
    def __init__(self) -> None:
        self.sent = []

    def write_forward_msg(self, msg) -> None:
        self.sent.append(msg)


def connect_as(held: set[str]):
    """A stand-in for Runtime.connect_session: resumes a session it holds, else hands out a new one."""
    def connect_session(self, client, user_info, existing_session_id=None, session_id_override=None):
        return existing_session_id if existing_session_id in held else "new-session"
    return reconnect.reloading(connect_session)


def test_a_lost_session_reloads_the_page_and_a_resumed_or_new_one_does_not():
    connect = connect_as({"alive"})
    lost, resumed, fresh = Client(), Client(), Client()
    assert connect(None, lost, {}, existing_session_id="died-with-its-replica") == "new-session"
    assert connect(None, resumed, {}, existing_session_id="alive") == "alive"
    assert connect(None, fresh, {}) == "new-session"
    assert [m.WhichOneof("type") for m in lost.sent] == ["auth_redirect"]
    assert lost.sent[0].auth_redirect.url == ""          # the frontend loads its own URL again
    assert resumed.sent == [] and fresh.sent == []
