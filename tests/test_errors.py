"""One error type per layer under one base, ExplorerError, which the entry points turn into one
message: the CLI prints `error: <message>` and exits with status 2."""
from __future__ import annotations

import pytest

from explorer.analysis.errors import AnalysisError
from explorer.checkpoints import CheckpointError
from explorer.cli import main
from explorer.cli.common import UserError
from explorer.core.config import ConfigError
from explorer.core.errors import ExplorerError
from explorer.data import DataError
from explorer.data.images import ImageError
from explorer.figures.export import ExportError
from explorer.maps.errors import ProjectionError
from explorer.training.device import DeviceError
from explorer.training.jobs import JobError
from explorer.training.settings import SettingsError

LAYER_ERRORS = [ConfigError, DataError, ImageError, CheckpointError, AnalysisError, ProjectionError, ExportError,
                DeviceError, JobError, SettingsError, UserError]


@pytest.mark.parametrize("error", LAYER_ERRORS, ids=lambda e: e.__name__)
def test_every_layer_error_is_an_explorer_error(error):
    assert issubclass(error, ExplorerError)


def test_the_cli_turns_any_layer_error_into_one_line(capsys, explorer_env):
    # a device that is not there: DeviceError from the training layer, before any data is read
    code = main(["train", "--kind", "vae", "--dataset", "digits", "--device", "cuda:999", "--name", "x", "--quiet",
                 "--out-dir", str(explorer_env["checkpoints"]), "--epochs", "1", "--max-steps", "1"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
