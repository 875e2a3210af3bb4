"""Streamlit's websocket protocol, as the browser speaks it: one session on
``ws://HOST/_stcore/stream`` sends BackMsg protobufs (reruns with every widget state) and reads
the ForwardMsg protobufs of each run back (elements, navigation, the run's end).

Like a browser, a session keeps its cookies: it loads the page and asks /_stcore/health before
opening the websocket, keeps what they set (a load balancer's sticky cookie, Streamlit's XSRF
cookie) and sends them with the websocket and every later request (an upload), so behind
`python -m explorer serve` all of a session's requests reach the replica that holds it."""
from __future__ import annotations

import asyncio
import http.cookies
import time
import urllib.parse
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

RERUN_TIMEOUT_S = 120.0
SIDEBAR = 1  # delta_path[0] of the sidebar (RootContainer.SIDEBAR)
STICKY_COOKIE = "SERVERID"       # explorer/cli/serve/balancer.py's cookie naming the session's replica
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's; its value is also the upload's X-Xsrftoken header


@dataclass
class Run:
    """What one rerun sent back."""

    seconds: float
    status: int
    elements: list[tuple[tuple[int, ...], str, object, str]]   # (delta_path, type, element, fragment id)
    navigation: dict[str, str]                           # page name -> page_script_hash
    errors: list[str]

    def widgets(self, kind: str) -> dict[str, object]:
        """Widget elements of one type (e.g. "slider"), by their user key (the id's suffix)."""
        return {el.id.rsplit("-", 1)[-1]: el for _, t, el, _ in self.elements if t == kind}

    def fragment_of(self, widget_id: str) -> str:
        """The fragment a widget was drawn in ("" when in none): a move of it reruns only that."""
        return next((f for _, t, el, f in self.elements if getattr(el, "id", None) == widget_id), "")

    def images(self) -> list[str]:
        return [img.url for _, t, el, _ in self.elements if t == "imgs" for img in el.imgs]

    def sidebar_text(self) -> list[str]:
        return [el.body for path, t, el, _ in self.elements if t == "markdown" and path[:1] == (SIDEBAR,)]


class WsSession:
    """One browser-less session: sends reruns with widget states, reads back what the page shows."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.http = f"{parts.scheme}://{parts.netloc}"
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_url = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        self.ws = None
        self.pages: dict[str, str] = {}
        self.page = ""                       # page_script_hash of the current page
        self.states: dict[str, WidgetState] = {}
        self.cookies: dict[str, str] = {}
        self.session_id = ""                 # Streamlit's id of this session, from its first answer

    @property
    def replica(self) -> str:
        """The replica a balancer's sticky cookie names ("" without a balancer)."""
        return self.cookies.get(STICKY_COOKIE, "")

    async def connect(self) -> Run:
        """Load the page and its health check as the browser does (keeping cookies), then open the
        websocket with them and run the page."""
        for path in ("/", "/_stcore/health"):
            await asyncio.to_thread(self.request, "GET", path)
        headers = {"Cookie": self.cookie_header()} if self.cookies else None
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.http,
                                           max_size=None, open_timeout=60, ping_interval=None,
                                           additional_headers=headers)
        return await self.rerun()

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One HTTP request with this session's cookies, keeping any it sets: (status, body)."""
        req = urllib.request.Request(self.http + path, data=body, method=method, headers={
            **({"Cookie": self.cookie_header()} if self.cookies else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, data, got = r.status, r.read(), r.headers.get_all("Set-Cookie") or []
        except urllib.error.HTTPError as e:
            status, data, got = e.code, e.read(), e.headers.get_all("Set-Cookie") or []
        for line in got:
            self.cookies.update({k: m.value for k, m in http.cookies.SimpleCookie(line).items()})
        return status, data

    def upload(self, name: str, data: bytes) -> int:
        """PUT a file to this session's upload URL as the browser's file uploader does (multipart,
        with the XSRF token from Streamlit's cookie); the HTTP status (204 when stored)."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "X-Xsrftoken": self.cookies.get(XSRF_COOKIE, "")}
        status, _ = self.request("PUT", f"/_stcore/upload_file/{self.session_id}/{uuid.uuid4().hex}", body, headers)
        return status

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def set_slider(self, widget_id: str, value: float) -> None:
        state = WidgetState(id=widget_id)
        state.double_array_value.data.append(float(value))
        self.states[widget_id] = state

    def set_select(self, widget_id: str, label: str) -> None:
        """A selectbox or radio, by the label it shows for the option."""
        self.states[widget_id] = WidgetState(id=widget_id, string_value=label)

    def click(self, widget_id: str) -> None:
        """A button: true for the next rerun only, as the browser sends it."""
        self.states[widget_id] = WidgetState(id=widget_id, trigger_value=True)

    def forget_triggers(self) -> None:
        self.states = {k: v for k, v in self.states.items() if v.WhichOneof("value") != "trigger_value"}

    async def goto(self, page_name: str) -> Run:
        self.page = self.pages[page_name]
        return await self.rerun()

    def rerun_message(self, fragment_id: str = "", page: str | None = None) -> bytes:
        """The browser's rerun request: every widget state, for `page` (default: the current one)
        or, with `fragment_id`, for that fragment only."""
        client = ClientState(query_string="", page_script_hash=self.page if page is None else page,
                             fragment_id=fragment_id)
        client.widget_states.widgets.extend(self.states.values())
        msg = BackMsg()
        msg.rerun_script.CopyFrom(client)
        return msg.SerializeToString()

    async def rerun(self, fragment_id: str = "") -> Run:
        """Send every widget state (as the browser does) and read until the run finishes."""
        message = self.rerun_message(fragment_id)
        self.forget_triggers()
        start = time.perf_counter()
        await self.ws.send(message)
        elements, navigation, errors = [], {}, []
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=RERUN_TIMEOUT_S)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "script_finished":
                status = fwd.script_finished
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append("the script failed to compile")
                break
            if kind == "new_session":
                self.session_id = fwd.new_session.initialize.session_id or self.session_id
            elif kind == "navigation":
                navigation = {p.page_name: p.page_script_hash for p in fwd.navigation.app_pages}
                self.pages = navigation or self.pages
                if not self.page:
                    self.page = fwd.navigation.page_script_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                etype = el.WhichOneof("type")
                elements.append((tuple(fwd.metadata.delta_path), etype, getattr(el, etype), fwd.delta.fragment_id))
                if etype == "exception":
                    errors.append(f"exception: {el.exception.type}: {el.exception.message}")
                elif etype == "alert" and el.alert.format == Alert.ERROR:
                    errors.append(f"st.error: {el.alert.body[:300]}")
        return Run(time.perf_counter() - start, status, elements, navigation, errors)
