"""How many replicas `python -m explorer serve` starts for the memory at hand
(explorer/cli/serve/memory.py): one per core unless memory is short, then fewer, said in one
line; an explicit --replicas kept, with a warning when it looks too big."""
from __future__ import annotations

from pathlib import Path

from explorer.cli.serve import memory, supervisor

# The first lines of a /proc/meminfo, as Linux writes them: 16 GiB available.
MEMINFO_16G = """\
MemTotal:       65842360 kB
MemFree:         9123456 kB
MemAvailable:   16777216 kB
Buffers:          204800 kB
Cached:          7340032 kB
"""
MOST = supervisor.MAX_REPLICAS


def test_memavailable_is_read_in_mib_and_a_kernel_without_it_gives_none():
    assert memory.available_mb(MEMINFO_16G) == 16384
    assert memory.available_mb("MemTotal:  1024 kB\nMemFree:  512 kB\n") is None


def test_the_default_on_a_big_machine_short_of_memory_is_capped_and_says_how_to_ask_for_more():
    count, note = memory.choose_replicas(None, cores=64, free_mb=memory.available_mb(MEMINFO_16G), most=MOST)
    assert count == (16384 - memory.RESERVE_MB) // memory.REPLICA_MB < 64
    assert note.startswith(f"Starting {count} replica(s), not one per core (64)")
    assert "16384 MB available" in note and "--replicas N" in note and "\n" not in note


def test_the_default_with_memory_to_spare_is_one_per_core_without_a_word():
    assert memory.choose_replicas(None, cores=2, free_mb=16384, most=MOST) == (2, None)
    assert memory.choose_replicas(None, cores=64, free_mb=None, most=MOST) == (64, None)  # memory unknown
    assert memory.choose_replicas(None, cores=200, free_mb=None, most=MOST) == (MOST, None)  # not refused later


def test_at_least_one_replica_starts_however_little_memory_there_is():
    count, note = memory.choose_replicas(None, cores=8, free_mb=100, most=MOST)
    assert count == 1 and "Starting 1 replica(s)" in note


def test_an_explicit_count_too_big_for_the_memory_is_kept_with_a_warning():
    count, note = memory.choose_replicas(40, cores=64, free_mb=16384, most=MOST)
    assert count == 40 and note.startswith("Warning: --replicas 40 may need about")
    assert f"About {memory.fits(16384)} fit" in note
    assert memory.choose_replicas(4, cores=64, free_mb=16384, most=MOST) == (4, None)
    assert memory.choose_replicas(0, cores=64, free_mb=100, most=MOST) == (0, None)  # refused by check_request


def test_this_machines_own_meminfo_gives_a_count_between_one_and_its_cores():
    text = Path("/proc/meminfo").read_text()
    total_mb = int(next(line for line in text.splitlines() if line.startswith("MemTotal:")).split()[1]) / 1024
    free_mb = memory.read_available_mb()
    assert free_mb is not None and 0 < free_mb <= total_mb
    cores = supervisor.default_replicas()
    count, note = memory.choose_replicas(None, cores, free_mb, MOST)
    assert 1 <= count <= cores
    assert (note is None) == (count == min(cores, MOST))
