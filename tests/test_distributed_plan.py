"""The plan of a run on several processes, without starting any: which rank takes which images,
what torchrun's environment means, which settings are refused and how the Train page's job is
started. The processes themselves are in test_distributed.py (slow)."""
from __future__ import annotations

import pytest
import torch

from explorer.core.config import ConfigError, TrainConfig
from explorer.training.distributed import SOLO, DistributedError, Group, from_env
from explorer.training.jobs import JobSpec, child_command
from helpers import synthetic_dataset, tiny_model_cfg


@pytest.mark.parametrize("world", [2, 3, 4])
def test_the_ranks_split_each_global_batch_into_disjoint_equal_parts(world):
    batch = torch.randperm(1000)[:12 * world]
    parts = [Group(rank=r, world_size=world, local_rank=r).my_part(batch) for r in range(world)]
    assert all(len(p) == 12 for p in parts)
    assert torch.equal(torch.cat(parts), batch)  # together, exactly the one-process batch


def test_each_rank_evaluates_its_own_rows_and_together_all_of_them():
    x = torch.arange(361)
    parts = [Group(rank=r, world_size=2, local_rank=r).my_rows(x) for r in range(2)]
    assert torch.equal(torch.cat(parts), x)


def test_one_process_is_left_as_it_was():
    batch = torch.arange(64)
    assert from_env({}) == SOLO and not SOLO.active and SOLO.writes
    assert SOLO.my_part(batch) is batch
    assert SOLO.mean_over_ranks({"kl": 1.5}, 10) == {"kl": 1.5}
    assert SOLO.rank0_then_wait(lambda v: v + 1, 1) == 2


def test_torchruns_environment_is_read():
    g = from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert g == Group(rank=1, world_size=2, local_rank=1) and g.active and not g.writes


@pytest.mark.parametrize("env", [{"WORLD_SIZE": "two"}, {"WORLD_SIZE": "2", "RANK": "2"},
                                 {"WORLD_SIZE": "0"}])
def test_an_impossible_environment_is_one_clear_message(env):
    with pytest.raises(DistributedError, match="torchrun --nproc_per_node"):
        from_env(env)


def test_a_batch_that_does_not_split_evenly_is_refused_with_what_to_pass():
    with pytest.raises(DistributedError, match="multiple of 3"):
        Group(rank=0, world_size=3).check(64, 3)


def test_a_run_set_for_two_processes_refuses_to_train_on_one():
    from explorer.training.loop import train

    data = synthetic_dataset(32)
    with pytest.raises(DistributedError, match="2 process"):
        train(tiny_model_cfg(), TrainConfig(dataset="digits", epochs=1, batch_size=16, device="cpu", world_size=2),
              data)


def test_world_size_is_checked_like_every_setting():
    with pytest.raises(ConfigError, match="world_size"):
        TrainConfig(world_size=0)
    assert TrainConfig.from_dict({"epochs": 2}).world_size == 1  # checkpoints from before it existed


def test_the_train_page_starts_several_processes_through_torchrun(tmp_path):
    spec = JobSpec(model={}, train={"world_size": 2}, out=str(tmp_path / "x"))
    cmd = child_command(spec, tmp_path)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in cmd
    assert cmd[-3:] == ["-m", "explorer.training.jobs", str(tmp_path)]
    assert child_command(JobSpec(model={}, train={}, out="x"), tmp_path)[1:] == ["-m", "explorer.training.jobs",
                                                                                  str(tmp_path)]


@pytest.mark.parametrize("gpus, choices, words", [(0, [1], "No GPU"), (1, [1], "One GPU: one process is fastest"),
                                                   (4, [1, 2, 3, 4], "one process a GPU")])
def test_the_train_page_offers_processes_only_where_there_are_gpus(gpus, choices, words):
    from explorer.training.settings import process_choices

    offered, note = process_choices(gpus)
    assert offered == choices and words in note


@pytest.mark.parametrize("changes, message", [({"device": "cpu"}, "GPUs, one each"),
                                              ({"batch_size": 64, "processes": 3}, "multiple of 3")])
def test_unsound_process_settings_are_a_message(changes, message, tmp_path):
    from explorer.training.settings import SettingsError, TrainSettings, job_spec

    values = dict(dataset="digits", kind="vae", latent_dim=2, beta=1.0, cls_weight=0.0, epochs=3, batch_size=64,
                  lr=1e-3, seed=0, device="auto", name="vae-2d", processes=2)
    ok = job_spec(TrainSettings(**values), tmp_path, [], owner="")
    assert ok.train["world_size"] == 2 and ok.train["batch_size"] == 64
    with pytest.raises(SettingsError, match=message):
        job_spec(TrainSettings(**{**values, **changes}), tmp_path, [], owner="")


def test_a_lost_peer_is_told_from_other_failures():
    from explorer.training.distributed import lost_peer

    assert lost_peer(RuntimeError("[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error "
                                  "[127.0.0.1]:37248: Connection reset by peer"))
    assert not lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not lost_peer(ValueError("gloo"))


def test_a_lost_peer_is_said_in_one_short_line():
    """The backend's first sentence, without its source location or its advice, in the page's and
    the CLI's message."""
    from explorer.training.distributed import Group, lost_peer_words

    gloo = RuntimeError("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error "
                        "[127.0.0.1]:9628: Connection reset by peer. This is typically caused by a remote worker "
                        "hanging or bugs in the application. Check the logs of the remote worker before reporting "
                        "an error. GLHF!\nmore")
    assert lost_peer_words(Group(rank=0, world_size=2), gloo) == (
        "a process of this 2-process run stopped (Read error [127.0.0.1]:9628: Connection reset by peer)")
    assert lost_peer_words(Group(rank=0, world_size=4), RuntimeError("")) == (
        "a process of this 4-process run stopped (RuntimeError)")
