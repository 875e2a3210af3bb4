"""The minimal Streamlit pages `python -m explorer bench` measures the app against."""
