"""The data layer: dataset registry, IDX reader, loaders and downloader.

Everything here is plain numpy; nothing imports torch or streamlit.
"""

from explorer.data.download import fetch
from explorer.data.errors import DataError
from explorer.data.folder_scan import FolderProblem
from explorer.data.folders import SIDES, dataset_dir_name, folder_dataset_id, folder_datasets, folder_report
from explorer.data.idx import read_idx, write_idx
from explorer.data.loader import ImageDataset, available_datasets, load_dataset
from explorer.data.paths import locate_files
from explorer.data.registry import DATASETS, DatasetSpec, FileSpec, get_spec, is_folder_id

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "FileSpec",
    "FolderProblem",
    "ImageDataset",
    "SIDES",
    "available_datasets",
    "dataset_dir_name",
    "fetch",
    "folder_dataset_id",
    "folder_datasets",
    "folder_report",
    "get_spec",
    "is_folder_id",
    "load_dataset",
    "locate_files",
    "read_idx",
    "write_idx",
]
