"""The view in the URL, so that a link or a bookmark reopens it.

- The page is the URL's path (Streamlit's navigation: ``/interpolate``).
- Widgets whose values matter (map method, colouring, sliders, ...) are bound to the URL by
  Streamlit itself (``bind="query-params"``, the query parameter is the widget's key); they
  are listed in BOUND so that a link naming them is not reported as unknown.
- What is not a widget is written here after every run and read back on a session's first
  run: ``ckpt`` and ``clf`` (checkpoints as ``<dataset>/<name>`` ids, resolved only against
  the scanned catalogue, never as paths), ``sel`` (selected test indices), ``a`` and ``b``
  (interpolation endpoints), ``step`` (the tour's step).

A parameter that is unknown, malformed or names nothing that exists is ignored, and a notice
(that stays until closed) says so, as it says what a link kept only in part; a link never breaks
the app.
"""
from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from explorer.data import DataError, get_spec

from explorer.checkpoints import CheckpointError

from explorer.checkpoints import catalog
from explorer.checkpoints.catalog import CheckpointEntry
from explorer.ui.state import CHOICE, ENDPOINTS, HEAD, SELECTED, SELECTED_FOR, Choice

RESTORED = "url_restored"
NOTICES = "url_notices"
PENDING = "url_pending"  # sel, a, b: applied once the dataset is known
PAGE_PENDING = "url_page_pending"  # z, gz: taken by their page on the first run (take_codes)
PARTIAL = "url_partial"  # sentences on what a link kept only in part
TOUR_STEP = "tour_step"
GEN_SEED = "gen_seed"  # Generate's seed for its samples
MAX_SELECTED = 2000  # indices a link holds: about 10 KB of URL, well inside what browsers keep
MAX_SEED = 2**31 - 1
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

OWN = ("ckpt", "clf", "sel", "seln", "a", "b", "step", "seed", "z", "gz", "run")  # run: the Train page's run (pages/train.py)
BOUND = frozenset({
    "map_method", "map_color", "map_umap_nn", "map_umap_md", "map_tsne_perp",
    "trav_base", "trav_class", "interp_method", "interp_steps", "interp_t",
    "gen_class", "gen_temperature", "learn_index", "learn_seed", "anom_score", "anom_class", "anom_n",
    "big_type",
})


def entry_id(path: Path) -> str:
    """A checkpoint's id in a link: its dataset folder and its name, e.g. fashion-mnist/vae-16d."""
    return f"{path.parent.name}/{path.name}"


def resolve(text: str, entries: list[CheckpointEntry]) -> CheckpointEntry | None:
    """The scanned checkpoint whose id is `text`, or None. Only ids of the catalogue's own
    entries can match, so a link cannot point the app at any other folder."""
    if not ID_RE.match(text) or ".." in text:
        return None
    try:
        found = catalog.resolve_entry(text)  # refuses absolute ids, "..", hidden parts, symlink escapes
    except CheckpointError:
        return None
    for e in entries:
        if e.path.resolve() == found.path.resolve() and not e.problem:
            return e
    return None


def _ints(text: str, limit: int, n_max: int) -> list[int] | None:
    """Comma-separated indices in 0..limit-1 (at most n_max of them), or None when malformed."""
    parts = [p for p in text.split(",") if p.strip()]
    # isdecimal, not isdigit: int() refuses digits such as '²'; and at most 9 digits, so that
    # int() never meets Python's 4300-digit limit (no test set has a billion images)
    if not parts or len(parts) > n_max or not all(p.strip().isdecimal() and len(p.strip()) <= 9 for p in parts):
        return None
    values = [int(p) for p in parts]
    return values if all(v < limit for v in values) else None


def restore(entries: list[CheckpointEntry]) -> None:
    """On a session's first run, put what the link says into the session state (before the
    sidebar and the page draw their widgets)."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    params = {k: st.query_params.get(k, "") for k in st.query_params}
    st.session_state["url_initial"] = params
    notices: list[str] = []
    dataset = None
    if "ckpt" in params:
        e = resolve(params["ckpt"], entries)
        if e is not None and e.is_vae:
            dataset = e.dataset
            st.session_state["sb_dataset"] = e.dataset
            st.session_state["sb_vae"] = e.path
        else:
            notices.append(f"no VAE checkpoint `{params['ckpt'][:60]}`")
    if "clf" in params:
        if params["clf"] == "head":
            st.session_state["sb_classifier"] = HEAD
        else:
            e = resolve(params["clf"], entries)
            if e is not None and e.kind == "classifier" and e.dataset == (dataset or e.dataset):
                st.session_state["sb_classifier"] = e.path
            else:
                notices.append(f"no classifier `{params['clf'][:60]}`")
    if "step" in params:
        step = _ints(params["step"], 99, 1)
        if step is None or step[0] < 1:
            notices.append("the tour step (`step`: 1, 2, ...)")
        else:
            st.session_state[TOUR_STEP] = step[0] - 1
    if "seed" in params:
        seed = _ints(params["seed"], MAX_SEED + 1, 1)
        if seed is None:
            notices.append("sample seed (`seed`: a whole number)")
        else:
            st.session_state[GEN_SEED] = seed[0]
    unknown = [k for k in params if k not in OWN and k not in BOUND]
    if unknown:
        notices.append("unknown " + ", ".join(f"`{k[:30]}`" for k in unknown[:5]))
    st.session_state[NOTICES] = notices
    st.session_state[PARTIAL] = []
    st.session_state[PENDING] = {k: params[k] for k in ("sel", "seln", "a", "b") if k in params}
    st.session_state[PAGE_PENDING] = {k: params[k] for k in ("z", "gz") if k in params}


def restore_picks(choice: Choice) -> None:
    """After the sidebar has settled the dataset: the link's selected images and interpolation
    endpoints, checked against that dataset's test set."""
    pending = st.session_state.pop(PENDING, None)
    if not pending:
        return
    notices = st.session_state.setdefault(NOTICES, [])
    dataset = choice.dataset
    n_test = _test_size(dataset)
    if "sel" in pending:
        picked = _ints(pending["sel"], n_test, MAX_SELECTED)
        if picked is None:
            notices.append(f"selected images (`sel`: up to {MAX_SELECTED} test indices below {n_test:,})")
        else:
            st.session_state[SELECTED], st.session_state[SELECTED_FOR] = picked, dataset
            total = _ints(pending.get("seln", ""), 10**9, 1)
            if total and total[0] > len(picked):
                st.session_state.setdefault(PARTIAL, []).append(
                    f"It keeps the first {len(picked):,} of the {total[0]:,} selected images (a link holds "
                    f"at most {MAX_SELECTED:,}), so {len(picked):,} are selected.")
    if "a" in pending or "b" in pending:
        ends = [_ints(pending.get(s, ""), n_test, 1) for s in ("a", "b")]
        if None in ends:
            notices.append(f"interpolation endpoints (`a` and `b`: test indices below {n_test:,})")
        else:
            st.session_state[ENDPOINTS] = (dataset, [ends[0][0], ends[1][0]])


def _test_size(dataset: str) -> int:
    """How many test images `dataset` has (a registered one or a folder of one's own); 0 when it
    cannot be read, so every index is refused with the notice."""
    try:
        return get_spec(dataset).n_test
    except DataError:
        return 0


def _same(raw: str, value) -> bool:
    if str(value) == raw:
        return True
    try:
        return float(raw) == float(value)
    except (TypeError, ValueError):
        return False


LABELS = "url_bound_labels"  # session: a bound option widget's key -> how its value reads in a link


def shown(key: str, label: str) -> None:
    """Note how bound option widget `key`'s value reads in a link: Streamlit writes an option by
    its label (format_func's), and drops a value equal to the default from the URL, so a link
    naming the default by its label ("UMAP") must not read as refused (report())."""
    st.session_state.setdefault(LABELS, {})[key] = str(label)


def report() -> None:
    """After the first run's page: add the bound widgets that refused their link value (Streamlit
    drops those from the URL) to the notices, and show the notices once."""
    notices = st.session_state.pop(NOTICES, None)
    st.session_state.pop(PAGE_PENDING, None)  # a page that did not take its sliders on the first run never will
    partial = st.session_state.pop(PARTIAL, [])
    if notices is None:
        return
    initial = st.session_state.get("url_initial", {})
    labels = st.session_state.get(LABELS, {})
    for key in sorted(BOUND & set(initial)):
        if (key not in st.query_params and key in st.session_state and not _same(initial[key], st.session_state[key])
                and initial[key] != labels.get(key)):
            notices.append(f"`{key}={initial[key][:30]}`")
    said = ["This link's " + "; ".join(notices) + " could not be used, so it was ignored."] if notices else []
    if said or partial:
        st.session_state["url_notice_text"] = " ".join(said + partial)
        # until closed: a notice that fades in seconds is missed by whoever is talking to a room
        st.toast(st.session_state["url_notice_text"], icon=":material/link_off:", duration="infinite")


def _put(name: str, value: str | None) -> None:
    if value is None or value == "":
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def sync(page_path: str) -> None:
    """Write the non-widget state into the URL (after every full run)."""
    choice: Choice | None = st.session_state.get(CHOICE)
    if choice is None or choice.vae is None:
        return
    _put("ckpt", entry_id(Path(choice.vae)))
    classifier = choice.classifier
    _put("clf", "head" if classifier == HEAD else (entry_id(Path(classifier)) if classifier else None))
    picked = st.session_state.get(SELECTED, []) if st.session_state.get(SELECTED_FOR) == choice.dataset else []
    _put("sel", ",".join(str(int(i)) for i in picked[:MAX_SELECTED]))
    _put("seln", str(len(picked)) if len(picked) > MAX_SELECTED else None)
    ends = st.session_state.get(ENDPOINTS)
    on_interp = page_path == "interpolate" and ends and ends[0] == choice.dataset
    _put("a", str(ends[1][0]) if on_interp else None)
    _put("b", str(ends[1][1]) if on_interp else None)
    _put("step", str(st.session_state.get(TOUR_STEP, 0) + 1) if page_path == "tour" else None)
    seed = st.session_state.get(GEN_SEED, 0)
    _put("seed", str(seed) if page_path == "generate" and seed else None)
    if page_path != "traverse":
        _put("z", None)
    if page_path != "generate":
        _put("gz", None)


# ---------------------------------------------------------------- sliders moved off a base code

def put_codes(name: str, moved: dict[int, float]) -> None:
    """Write the sliders moved off their base code as `name`=d:value,... (nothing when none moved)."""
    _put(name, ",".join(f"{int(d)}:{round(float(v), 4):g}" for d, v in sorted(moved.items())))


def take_codes(name: str, keys: dict[int, str], ranges: dict[int, tuple[float, float]]) -> bool:
    """On a link's first run: put its `name`=d:value,... on the sliders `keys[d]` (session-state keys),
    each within its `ranges[d]`; what is malformed or out of range goes to the notice. True when
    any slider was set."""
    text = st.session_state.get(PAGE_PENDING, {}).pop(name, None)
    if text is None:
        return False
    values, bad = _codes(text, keys)
    for d, v in values.items():
        lo, hi = ranges[d]
        kept = min(max(v, lo), hi)
        if kept != v:
            st.session_state.setdefault(PARTIAL, []).append(
                f"z{d} = {v:g} is outside its slider's range ({lo:g} to {hi:g}), so it is set to {kept:g}.")
        st.session_state[keys[d]] = kept
    if bad:
        st.session_state.setdefault(NOTICES, []).append(
            f"slider values (`{name}`: dimension:value pairs such as `1:1.29`, dimensions below {len(keys)})")
    return bool(values)


def _codes(text: str, keys: dict[int, str]) -> tuple[dict[int, float], bool]:
    """`d:value,...` parsed: the finite values for known dimensions, and whether anything was not."""
    values: dict[int, float] = {}
    bad = False
    for part in text.split(",")[:len(keys) + 1]:
        d, _, v = part.partition(":")
        try:
            d_int, value = int(d), float(v)
        except ValueError:
            bad = True
            continue
        if d_int in keys and abs(value) < 1e6:  # also refuses nan and inf
            values[d_int] = value
        else:
            bad = True
    return values, bad
