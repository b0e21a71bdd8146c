"""Atomic writes leave files with the user's usual permissions, and clean up the
temporary files a killed write left behind."""

import os
import stat

import pytest

from tinymin import nn
from tinymin.checkpoint import save_checkpoint, write_text_atomic
from tinymin.run_folder import RunFolder


@pytest.fixture()
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_files_get_the_permissions_the_umask_gives(tmp_path, umask_027):
    target = write_text_atomic(tmp_path / "config.json", "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # 0o666 less the umask 0o027


def test_a_save_removes_the_temporaries_a_killed_save_left(tmp_path):
    leftovers = [tmp_path / ".checkpoint.npz.k1ll3d.tmp", tmp_path / ".checkpoint.npz.abc.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"\0" * 1024)
    unrelated = [tmp_path / ".other.npz.abc.tmp", tmp_path / "checkpoint.npz.tmp"]
    for path in unrelated:
        path.write_bytes(b"mine")
    save_checkpoint(tmp_path / "checkpoint.npz", nn.Linear(2, 2), {}, epoch=1)
    assert not any(p.exists() for p in leftovers)
    assert all(p.read_bytes() == b"mine" for p in unrelated)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint.npz", ".other.npz.abc.tmp", "checkpoint.npz.tmp"])


def test_resuming_a_run_folder_removes_its_leftover_temporaries(tmp_path):
    folder = RunFolder(tmp_path)
    folder.save(nn.Linear(2, 2), {}, epoch=1)
    leftovers = [tmp_path / f".{name}.x1.tmp" for name in
                 ("checkpoint.npz", "config.json", "metrics.csv", "scales.csv")]
    for leftover in leftovers:
        leftover.write_bytes(b"\0")
    assert folder.load().epoch == 1
    assert not any(p.exists() for p in leftovers)


@pytest.mark.skipif(os.name != "posix", reason="folders are synced on POSIX only")
def test_the_file_then_its_folder_are_flushed_so_the_rename_survives_a_power_loss(
        tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        mode = os.fstat(fd).st_mode
        synced.append("folder" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_text_atomic(tmp_path / "config.json", "{}")
    assert synced == ["file", "folder"]


def test_a_folder_that_cannot_be_synced_does_not_fail_the_write(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def refusing_folders(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", refusing_folders)
    target = write_text_atomic(tmp_path / "config.json", "{}")
    assert target.read_text() == "{}"
