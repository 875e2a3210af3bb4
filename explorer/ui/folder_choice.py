"""The Train page's dataset choice, a folder of one's own images included: its path and working
side, the decode with a progress bar, and the report of the files that were skipped.

A folder becomes the dataset `folder_dataset_id(path, side)` of the data layer; once read it is
served from the decoded cache, so the training run (a child process) and the other pages load
it without decoding again. The data layer's folder names are imported where they are used, so
the page draws the registered datasets whatever happens to the folder code.
"""
from __future__ import annotations

import streamlit as st

from explorer.checkpoints.fits import shape_words
from explorer.data import DataError, get_spec, load_dataset
from explorer.ui.sidebar import dataset_title

FOLDER = "your-folder"        # the dataset box's entry for a folder of one's own
READ = "tr_folder_read_id"    # the id of the folder last read without an error
REPORT = "tr_folder_report"   # what was skipped in it: lines to show
DEFAULT_SIDE = 32
SHOWN_PROBLEMS = 50           # lines of the report shown in the page; the rest are counted


def choose_dataset(available: list[str]) -> str | None:
    """The Dataset box: a dataset on this machine, or a folder once read (None until then)."""
    options = [*available, FOLDER]
    default = "digits" if "digits" in available else options[0]
    choice = st.selectbox("Dataset", options, index=options.index(default), key="tr_dataset",
                          format_func=lambda d: "A folder of your own images..." if d == FOLDER else dataset_title(d),
                          help="digits trains in seconds; Fashion-MNIST takes from 20 s (small network) to a minute "
                               "(full) an epoch on a laptop CPU. A folder: one subfolder of images per class.")
    return folder_form() if choice == FOLDER else choice


def folder_form() -> str | None:
    """Path, side and the Read button; the folder's dataset id once read, else None."""
    from explorer.data import SIDES

    path = st.text_input("Folder", key="tr_folder_path", placeholder="/home/me/pictures",
                         help="One subfolder per class (cats/, dogs/, ...), optionally under train/ and test/. "
                              "Nothing in it is ever written to.").strip()
    side = st.segmented_control("Side (pixels)", list(SIDES), default=DEFAULT_SIDE, required=True,
                                key="tr_folder_side",
                                help="Every image is scaled to this side, its aspect kept and padded; larger "
                                     "sides show more detail and train more slowly")
    if not path:
        st.caption("Type the folder's path, choose the side, then read it.")
        return None
    if st.button("Read the folder", key="tr_folder_go", icon=":material/folder_open:", width="stretch"):
        read_folder(path, int(side))
    wanted = _id_or_none(path, int(side))
    if wanted is None or st.session_state.get(READ) != wanted:
        st.caption("Read the folder to train on it: its images are decoded once, then served from a cache.")
        return None
    summary(wanted)
    return wanted


def read_folder(path: str, side: int) -> None:
    """Decode the folder's two splits with a progress bar; keep its id and report, or show why not."""
    from explorer.data import folder_dataset_id, folder_report

    st.session_state.pop(READ, None)
    bar = st.progress(0.0, text="Reading the folder...")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Decoding the images: {done:,} of {total:,}")

    try:
        name = folder_dataset_id(path, side)
        for split in ("train", "test"):
            load_dataset(name, split, progress=progress)
        problems = folder_report(name, side)
    except DataError as e:
        bar.empty()
        st.error(str(e))
        return
    bar.empty()
    st.session_state[READ] = name
    st.session_state[REPORT] = [problem_line(p) for p in problems]


def summary(name: str) -> None:
    """What the folder holds, and the files that were skipped, with the reason for each."""
    spec = get_spec(name)
    st.success(f"**{spec.title}**: {spec.n_train:,} training and {spec.n_test:,} test images of "
               f"{spec.num_classes} classes ({', '.join(spec.class_names)}), as {shape_words(spec.image_shape)} images.")
    problems = st.session_state.get(REPORT) or []
    if problems:
        with st.expander(f"{len(problems):,} file(s) skipped", icon=":material/warning:"):
            st.markdown("\n".join(f"- {line}" for line in problems[:SHOWN_PROBLEMS]))
            if len(problems) > SHOWN_PROBLEMS:
                st.caption(f"...and {len(problems) - SHOWN_PROBLEMS:,} more.")


def problem_line(problem) -> str:
    """One skipped file as a line of text: (path, reason) pairs, objects with both, or text."""
    if isinstance(problem, (tuple, list)):
        return ": ".join(str(p) for p in problem)
    if hasattr(problem, "path") and hasattr(problem, "reason"):
        return f"{problem.path}: {problem.reason}"
    return str(problem)


def _id_or_none(path: str, side: int) -> str | None:
    from explorer.data import folder_dataset_id

    try:
        return folder_dataset_id(path, side)
    except DataError:
        return None
