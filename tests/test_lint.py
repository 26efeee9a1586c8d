"""ruff, configured in pyproject.toml, finds nothing in the package, the tests, the benches or the tools."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                           "gradcourse", "tests", "bench", "tools"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_ruff_would_catch_a_mistake(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f(x):\n    try:\n        return x\n    except Exception:\n        pass\n")
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                           "--config", str(ROOT / "pyproject.toml"), str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1 and "F401" in proc.stdout and "BLE001" in proc.stdout, proc.stdout
