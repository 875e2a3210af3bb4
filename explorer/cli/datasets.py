"""`--dataset NAME|PATH` and `--side`: a folder path becomes its dataset id; a folder is decoded
with a progress bar and its report of skipped files printed."""
from __future__ import annotations

import argparse
import os
import sys

from explorer.cli.common import UserError
from explorer.data import DATASETS, FolderProblem, folder_dataset_id
from explorer.data.registry import is_folder_id

DEFAULT_SIDE = 32
REPORT_LINES = 20  # the first problems are printed; the count says how many more there are


def dataset_name(args: argparse.Namespace) -> str:
    """The dataset id of ``args.dataset``: a registered name or folder id as given, a path as its
    folder id at ``args.side`` (32 when not given)."""
    name, side = args.dataset, getattr(args, "side", None)
    if name in DATASETS or is_folder_id(name):
        if side is not None and name in DATASETS:
            raise UserError(f"--side applies to a folder of images; {name} has its own size")
        return name
    if not os.path.isdir(os.path.expanduser(name)):
        known = ", ".join(DATASETS)
        raise UserError(f"--dataset {name!r} is neither a dataset ({known}) nor a folder; give a folder "
                        "holding one subfolder of images per class")
    return folder_dataset_id(name, DEFAULT_SIDE if side is None else side)


class DecodeBar:
    """A progress callback drawing a tqdm bar, opened only when there is decoding to show."""

    def __init__(self, what: str) -> None:
        self.what, self._bar = what, None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.what, unit="img", file=sys.stderr, leave=True)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def load_both(name: str, data_dir: str | None, quiet: bool = False):
    """The train and test splits of ``name``; a folder is decoded with a bar and its report printed."""
    from explorer.data import load_dataset
    from explorer.data.folders import folder_datasets

    if not is_folder_id(name):
        return load_dataset(name, "train", data_dir=data_dir), load_dataset(name, "test", data_dir=data_dir)
    bar = DecodeBar("decoding images")
    try:
        train, test, problems = folder_datasets(name, progress=None if quiet else bar)
    finally:
        bar.close()
    if not quiet:
        print_report(problems, sys.stderr)
    return train, test


def print_report(problems: list[FolderProblem], out) -> None:
    """The skipped files with their reasons, the first REPORT_LINES of them."""
    if not problems:
        return
    print(f"{len(problems)} item(s) in the folder were left out:", file=out)
    for problem in problems[:REPORT_LINES]:
        print(f"  {problem}", file=out)
    if len(problems) > REPORT_LINES:
        print(f"  ... and {len(problems) - REPORT_LINES} more", file=out)
