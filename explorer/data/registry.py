"""The dataset registry: one spec per dataset name.

A spec says what a dataset looks like (image shape, classes, split sizes), which
files make it up (with the SHA-256 of each official ``.gz``), where to download
them from, and where a system package may already have installed them.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.data import shapes
from explorer.data.errors import DataError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One IDX file of a dataset, as published (gzip-compressed)."""

    filename: str  # e.g. "train-images-idx3-ubyte.gz"
    split: str  # "train" | "test"
    kind: str  # "images" | "labels" | "archive" (both splits in one file)
    sha256: str  # of the published file ("" where no SHA-256 is published: md5 then)
    md5: str = ""  # the published MD5, checked when there is no SHA-256

    @property
    def raw_name(self) -> str:
        """The file name without the ``.gz`` suffix (the uncompressed IDX file)."""
        return self.filename.removesuffix(".gz")


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the data layer knows about one dataset."""

    name: str
    title: str
    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]
    n_train: int
    n_test: int
    files: tuple[FileSpec, ...]
    mirrors: tuple[str, ...]  # base URLs, tried in order
    system_dirs: tuple[str, ...]
    source: str
    licence: str
    apt_package: str = ""  # Debian package that installs the files, if any
    factor_names: tuple[str, ...] = ()  # the true factors of variation, when known (shapes)
    factor_values: tuple[tuple, ...] = ()  # the grid of values of each factor, in factor_names order

    @property
    def num_classes(self) -> int:
        """The number of classes (labels run from 0 to num_classes - 1)."""
        return len(self.class_names)

    def split_size(self, split: str) -> int:
        """The number of examples in ``split`` ("train" or "test")."""
        check_split(split)
        return self.n_train if split == "train" else self.n_test

    def file_for(self, split: str, kind: str) -> FileSpec:
        """The file holding the ``kind`` ("images"/"labels") of ``split``."""
        for file in self.files:
            if file.split == split and file.kind == kind:
                return file
        raise DataError(f"dataset {self.name!r} has no {split} {kind} file")


def check_split(split: str) -> None:
    """Raise DataError unless ``split`` is "train" or "test"."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}")


def _idx_files(sha256: dict[str, str]) -> tuple[FileSpec, ...]:
    """The four standard MNIST-layout files, with their published checksums."""
    layout = (
        ("train-images-idx3-ubyte.gz", "train", "images"),
        ("train-labels-idx1-ubyte.gz", "train", "labels"),
        ("t10k-images-idx3-ubyte.gz", "test", "images"),
        ("t10k-labels-idx1-ubyte.gz", "test", "labels"),
    )
    return tuple(FileSpec(name, split, kind, sha256[name]) for name, split, kind in layout)


# SHA-256 of the official .gz files as served by the mirrors below (cross-checked
# against torchvision, tensorflow-datasets and other published lists). Debian's
# dataset-fashion-mnist re-compresses the files, so its .gz files hash differently
# although the decompressed IDX bytes are identical; locally found files are
# therefore validated by structure (IDX header, sizes, labels), not by checksum.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    image_shape=(1, 28, 28),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    n_train=60_000,
    n_test=10_000,
    files=_idx_files({
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }),
    mirrors=(
        "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    source="https://github.com/zalandoresearch/fashion-mnist",
    licence="MIT (Zalando Research)",
    apt_package="dataset-fashion-mnist",
)

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    image_shape=(1, 28, 28),
    class_names=tuple(str(digit) for digit in range(10)),
    n_train=60_000,
    n_test=10_000,
    files=_idx_files({
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    system_dirs=(),
    source="http://yann.lecun.com/exdb/mnist/",
    licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
)

# Bundled with scikit-learn: no files, no download. Loaded by explorer.data.loader.
DIGITS = DatasetSpec(
    name="digits",
    title="scikit-learn digits (8x8)",
    image_shape=(1, 8, 8),
    class_names=tuple(str(digit) for digit in range(10)),
    n_train=1437,
    n_test=360,
    files=(),
    mirrors=(),
    system_dirs=(),
    source="scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits)",
    licence="CC BY 4.0 (UCI Machine Learning Repository), bundled with scikit-learn",
)

# Generated on this machine (explorer/data/shapes.py): no files, no download; every factor known.
SHAPES = DatasetSpec(
    name="shapes",
    title="Shapes (generated, with known factors)",
    image_shape=(3, shapes.SIDE, shapes.SIDE),
    class_names=shapes.SHAPE_NAMES,
    n_train=shapes.N_TRAIN,
    n_test=shapes.N_TEST,
    files=(),
    mirrors=(),
    system_dirs=(),
    source="generated by explorer/data/shapes.py from a fixed seed (after dSprites and 3D Shapes)",
    licence="generated: the same licence as Latent Explorer",
    factor_names=shapes.FACTOR_NAMES,
    factor_values=shapes.FACTOR_VALUES,
)

# The official binary version: records of 1 label byte and 3072 pixel bytes (1024 red, then
# green, then blue, row-major), 10,000 a batch file. Never the pickled Python version. The
# page publishes an MD5 only, so the MD5 is what is checked.
CIFAR_10 = DatasetSpec(
    name="cifar-10",
    title="CIFAR-10",
    image_shape=(3, 32, 32),
    class_names=(
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ),
    n_train=50_000,
    n_test=10_000,
    files=(FileSpec("cifar-10-binary.tar.gz", "both", "archive", sha256="",
                    md5="c32a1d4ab5d03f1284b67883e8d87530"),),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    system_dirs=(),
    source="https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky, 2009)",
    licence="no licence stated; cite Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009",
)

# Best first: available_datasets() keeps this order.
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (FASHION_MNIST, MNIST, DIGITS, SHAPES, CIFAR_10)}

FOLDER_PREFIX = "folder:"  # a person's own folder: "folder:<side>:<absolute path>"


def is_folder_id(name: object) -> bool:
    """Whether a dataset name is a folder of one's own images (``folder:<side>:<path>``)."""
    return isinstance(name, str) and name.startswith(FOLDER_PREFIX)


def get_spec(name: str | DatasetSpec) -> DatasetSpec:
    """The spec registered under ``name`` (a spec passed in is returned as is)."""
    if isinstance(name, DatasetSpec):
        return name
    if is_folder_id(name):
        from explorer.data.folders import folder_spec  # folders builds on this module

        return folder_spec(name)
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(DATASETS)
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}, or a folder of images "
                        "(one subfolder per class)") from None
