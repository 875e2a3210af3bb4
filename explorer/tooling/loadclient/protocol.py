"""Streamlit's websocket protocol, as the browser speaks it: one session on
``ws://HOST/_stcore/stream`` sends BackMsg protobufs (reruns with every widget state) and reads
the ForwardMsg protobufs of each run back (elements, navigation, the run's end)."""
from __future__ import annotations

import asyncio
import time
import urllib.parse
from dataclasses import dataclass

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

RERUN_TIMEOUT_S = 120.0
SIDEBAR = 1  # delta_path[0] of the sidebar (RootContainer.SIDEBAR)


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

    async def connect(self) -> Run:
        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.http,
                                           max_size=None, open_timeout=60, ping_interval=None)
        return await self.rerun()

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
            if kind == "navigation":
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
