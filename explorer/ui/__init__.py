"""The Streamlit app's parts: sidebar, shared state, the caches (explorer/ui/cache/), pages (explorer/ui/pages/).

The only package besides explorer/app.py that imports streamlit. Environment variables:

- EXPLORER_CHECKPOINTS: extra checkpoint root(s), os.pathsep-separated, each <root>/<dataset>/<name>/;
- EXPLORER_CHECKPOINTS_ONLY=1: ignore the repository's checkpoints/ (the tests use this).
"""
