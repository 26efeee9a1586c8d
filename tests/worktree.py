"""The suite runs in several processes (pytest-xdist, one test file per process at a time). A test that writes
into the work tree (the real book's build into _build, a wheel's build into build/ and *.egg-info) or copies it
wholesale holds this lock meanwhile: two builds of the book from one empty cache collided in jupyter-cache, and a
copy taken while a build writes can fail on a file that vanishes under it.

The lock is an advisory lock on the work tree's own folder: nothing to create, nothing left behind, and it is
released when its holder ends, however it ends."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def writing_or_copying():
    fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
