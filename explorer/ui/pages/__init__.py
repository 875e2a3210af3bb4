"""The app's pages. Each module here is a Streamlit page script run by `st.navigation`
(see explorer/app.py), not a module to import: importing one would draw the page."""
