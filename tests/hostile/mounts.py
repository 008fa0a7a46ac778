"""Small filesystems for hostile-condition tests: a tmpfs of a few hundred kB, made and removed
by the test itself. Needs root and a kernel that lets this process mount; skipped (with the
reason) where it cannot."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(where: Path, size_kb: int) -> Iterator[Path]:
    """A fresh tmpfs of `size_kb` mounted on `where`, unmounted afterwards whatever happens."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = _mount(["-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where)])
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip() or made.returncode}")
    try:
        yield where
    finally:
        _mount(["-o", "remount,rw", str(where)])
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False, timeout=30)


def remount_read_only(where: Path) -> None:
    made = _mount(["-o", "remount,ro", str(where)])
    assert made.returncode == 0, made.stderr


def fill(where: Path) -> Path:
    """Fill the filesystem at `where` to the last byte; returns the filler file."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 512, 1):  # unbuffered, so nothing is left to flush later
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def _mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False, timeout=30)
