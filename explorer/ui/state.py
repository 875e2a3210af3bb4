"""What every page shares: the loaded models and test set (`Context`), and the session's
selection (test-set indices picked on the map, the two interpolation endpoints).

The sidebar stores the user's choice in `st.session_state[CHOICE]`; `context()` turns it into
loaded models, showing a clear message in the page (and stopping the page) when it cannot.
The models themselves load on first use (`ctx.model`, `ctx.classifier`): once the test set's codes
and predictions are in the disk cache, the Map page draws without importing torch, which
would otherwise be most of the time to the first map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from explorer.checkpoints import Checkpoint, CheckpointError, fit_problem
from explorer.core import kinds
from explorer.core.config import VAE_KINDS
from explorer.data import DataError, ImageDataset, is_folder_id

from explorer.ui import cache

if TYPE_CHECKING:
    from torch import nn

CHOICE = "choice"            # the sidebar's Choice
SELECTED = "selected"        # list[int]: test-set indices picked on the map, first = current
SELECTED_FOR = "selected_for"  # the dataset the indices refer to
ENDPOINTS = "endpoints"      # [int, int]: interpolation endpoints (test-set indices)
HEAD = "__head__"            # classifier choice meaning "the hybrid VAE's own head"


@dataclass(frozen=True)
class Choice:
    dataset: str
    vae: Path | None
    classifier: Path | str | None   # a path, HEAD, or None


@dataclass
class Context:
    """Everything a page needs, loaded and cached."""

    dataset: str
    data: ImageDataset                # the test split
    vae: Checkpoint                   # its config; the model loads on first use of `model`
    vae_key: str
    classifier_path: Path | None           # the checkpoint holding the classifier (the vae's own for a hybrid's head)
    classifier_name: str
    mu: np.ndarray                    # (N, D) posterior means of the test set
    logvar: np.ndarray                # (N, D)
    pred: np.ndarray | None           # (N,) the classifier's predictions on the test set
    proba: np.ndarray | None          # (N, K)
    classifier_key: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def model(self) -> nn.Module:
        return cache.checkpoint(self.vae.path, self.vae_key).model

    @property
    def has_classifier(self) -> bool:
        """Whether there is a classifier to judge images, without loading it (nor torch)."""
        return self.classifier_path is not None

    @property
    def classifier(self) -> nn.Module | None:
        """The classifier (or the hybrid's head); None when there is none to use."""
        if self.classifier_path is None:
            return None
        return cache.checkpoint(self.classifier_path, self.classifier_key).model

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.spec.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def latent_dim(self) -> int:
        return self.vae.model_cfg.latent_dim

    @property
    def conditional(self) -> bool:
        return kinds.is_conditional(self.vae.kind)

    @property
    def channels(self) -> int:
        """1 for a grey model, 3 for a colour one."""
        return int(self.vae.model_cfg.image_shape[0])

    @property
    def image_side(self) -> int:
        return self.data.images.shape[-1]

    def classify(self, images: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The classifier's predictions (M,) and probabilities (M, K), or (None, None) without one."""
        if self.classifier_path is None or len(images) == 0:
            return None, None
        from explorer.analysis import latent
        return latent.classify(self.classifier, images)

    def verdict(self, pred: np.ndarray | None, proba: np.ndarray | None, i: int) -> str:
        """Short caption: the classifier's label and confidence for item i, e.g. "Shirt (87%)"."""
        if pred is None or proba is None:
            return "no classifier"
        k = int(pred[i])
        return f"{self.class_names[k]} ({proba[i, k]:.0%})"

    def verdicts(self, pred, proba, n: int) -> list[str]:
        return [self.verdict(pred, proba, i) for i in range(n)]

    def decode(self, z: np.ndarray, label: int | np.ndarray | None = None) -> np.ndarray:
        """Decode codes (M, D) to images (M, C, H, W); a cvae needs a label (int or (M,))."""
        from explorer.analysis import latent
        return latent.decode(self.model, np.asarray(z, dtype=np.float32), kinds.condition(self.vae.kind, label))


# ---------------------------------------------------------------- selection

def selection(dataset: str) -> list[int]:
    """The test indices picked on the map (empty when none, or picked for another dataset)."""
    if st.session_state.get(SELECTED_FOR) != dataset:
        return []
    return list(st.session_state.get(SELECTED, []))


def select(dataset: str, indices: list[int]) -> None:
    st.session_state[SELECTED] = [int(i) for i in indices]
    st.session_state[SELECTED_FOR] = dataset


def current_index(ctx: Context) -> int | None:
    picked = selection(ctx.dataset)
    return picked[0] if picked else None


# ---------------------------------------------------------------- loading

def context() -> Context:
    """Load what the sidebar chose; on failure show why in the page and stop the page."""
    choice: Choice | None = st.session_state.get(CHOICE)
    if choice is None or choice.vae is None:
        st.error("No VAE checkpoint found. Train one, e.g. "
                 "`python -m explorer train --kind vae --dataset digits --latent-dim 8`, "
                 "or point `EXPLORER_CHECKPOINTS` at a folder of checkpoints.")
        st.stop()
    try:
        data = cache.test_set(choice.dataset)
    except DataError as e:
        st.error(f"The {choice.dataset} test set cannot be loaded.\n\n{e}")
        st.stop()
    vae = _load_vae(choice.vae, data)
    vae_key = cache.checkpoint_key(vae.path)
    try:
        mu, logvar = cache.encodings(str(vae.path), vae_key, choice.dataset)
    except CheckpointError as e:  # the weights are read only now (a cache miss)
        st.error(f"The VAE checkpoint **{vae.path.name}** cannot be loaded: {e}\n\n"
                 "Pick another checkpoint in the sidebar.")
        st.stop()
    classifier_path, classifier_name, classifier_key = _load_classifier(choice.classifier, vae, data, vae_key)
    pred = proba = None
    if classifier_path is not None:
        try:
            pred, proba = cache.test_predictions(str(classifier_path), classifier_key, choice.dataset)
        except CheckpointError as e:
            st.error(f"The classifier **{classifier_path.name}** cannot be loaded: {e}\n\n"
                     "Images carry no predicted label until another classifier is picked in the sidebar.")
            classifier_path, classifier_name, classifier_key = None, "", ""
    return Context(dataset=choice.dataset, data=data, vae=vae, vae_key=vae_key, classifier_path=classifier_path,
                   classifier_name=classifier_name, mu=mu, logvar=logvar, pred=pred, proba=proba, classifier_key=classifier_key)


def _load_vae(path: Path, data: ImageDataset) -> Checkpoint:
    try:
        ckpt = cache.checkpoint_info(path)
    except CheckpointError as e:
        st.error(f"The VAE checkpoint **{path.name}** cannot be loaded: {e}\n\n"
                 "Pick another checkpoint in the sidebar.")
        st.stop()
    problem = _mismatch(ckpt, data)
    if ckpt.kind not in VAE_KINDS:
        problem = f"it is a {ckpt.kind}, not a VAE"
    if problem:
        st.error(f"The checkpoint **{path.name}** ({path / 'config.json'}) does not fit: {problem}. "
                 "Pick another in the sidebar.")
        st.stop()
    return ckpt


def _load_classifier(choice, vae: Checkpoint, data: ImageDataset, vae_key: str):
    """(checkpoint path, name, cache key) of the classifier that judges every image; None on a problem."""
    if choice == HEAD:
        if vae.kind == "hybrid":
            return vae.path, f"{vae.name}'s own classifier head", vae_key
        choice = None
    if choice is None:
        how = ("on the Train page (Model: classifier), on the same folder and side"
               if is_folder_id(data.spec.name)
               else f"with `python -m explorer train --kind classifier --dataset {data.spec.name}`")
        st.warning(f"No classifier for this dataset, so images carry no predicted label. Train one {how}.")
        return None, "", ""
    path = Path(choice)
    try:
        ckpt = cache.checkpoint_info(path)
    except CheckpointError as e:
        st.error(f"The classifier **{path.name}** cannot be loaded: {e}\n\n"
                 "Images carry no predicted label until another classifier is picked in the sidebar.")
        return None, "", ""
    problem = _mismatch(ckpt, data)
    if ckpt.kind not in kinds.CLASSIFYING_KINDS:
        problem = f"it is a {ckpt.kind}, not a classifier"
    if problem:
        st.error(f"The classifier **{path.name}** does not fit: {problem}. "
                 "Images carry no predicted label until another is picked in the sidebar.")
        return None, "", ""
    return ckpt.path, ckpt.name, cache.checkpoint_key(path)


def _mismatch(ckpt: Checkpoint, data: ImageDataset) -> str:
    """Why a checkpoint cannot be used with this dataset ("" when it can)."""
    return fit_problem(ckpt, data.spec.name, data.images.shape[1:], data.spec.num_classes)
