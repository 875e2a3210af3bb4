"""`python -m explorer.cli.serve.launch run <script> ...`: `python -m streamlit run <script> ...`
with the app's server-wide fixes in place before the server takes its first connection.

A replica restarted behind the balancer may get, as its very first connections, the browsers of
a replica that died; they must already be told to reload their pages (explorer/ui/reconnect.py).
The app installs the same fix on its first run, too late for those; here it is installed before
Streamlit starts.
"""
from __future__ import annotations


def main() -> None:
    from explorer.ui import reconnect

    reconnect.install()
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")  # as streamlit's own __main__ does


if __name__ == "__main__":
    main()
