import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="session", autouse=True)
def venv_bin_on_path():
    """nbgrader shells out to `alembic`: the venv's bin folder must come first on PATH."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = BIN + os.pathsep + old
    yield
    os.environ["PATH"] = old
