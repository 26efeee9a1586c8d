"""The pre-warmed interpreter (zygote.py, prewarmed.py): forked into a fresh sandbox per submission, it must be
exactly as confined as a cold start, and nothing one learner does may reach the next."""

import os
import signal

import pytest

from gradcourse.scoring import prewarmed, sandbox
from gradcourse.scoring.session import LearnerCrash, LearnerProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="warm starts are used as root (a leased uid each)")

# What a learner's process can find out about its own confinement, as one line of Python values.
PROBE = r"""
import os, socket, sys
def probe():
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    limits = {line[:26].strip(): line[26:47].split()[0] for line in open("/proc/self/limits").read().splitlines()[1:]}
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1)
        network = True
    except OSError:
        network = False
    try:
        import gradcourse.grading.reference as ref
        course = hasattr(ref, "softmax") and callable(ref.softmax) and ref.softmax([0.0]) is not None
    except Exception:
        course = False
    return {
        "uid": os.getuid(), "ppid": os.getppid(), "cwd": os.getcwd(), "tmp": sorted(os.listdir("/tmp")),
        "passwd": os.path.exists("/etc/passwd"), "home": os.path.exists("/root") and os.listdir("/root") != [],
        "caps": [status["CapEff"], status["CapPrm"], status["CapAmb"]], "nnp": status["NoNewPrivs"],
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()), "network": network,
        "course": course, "cpu": limits["Max cpu time"], "as": limits["Max address space"],
        "fsize": limits["Max file size"], "nproc": limits["Max processes"], "core": limits["Max core file size"],
        "env": sorted(os.environ),
    }
"""


def probed(process: LearnerProcess) -> dict:
    assert process.run_cell("<probe>", PROBE).ok
    return process.function("probe")()


@pytest.fixture
def cold(monkeypatch):
    monkeypatch.setenv(prewarmed.COLD_ENV, "1")


def test_a_warm_start_is_confined_exactly_like_a_cold_one(monkeypatch):
    with LearnerProcess() as warm:
        seen = probed(warm)
        assert isinstance(warm._proc, prewarmed.WarmProcess)
    monkeypatch.setenv(prewarmed.COLD_ENV, "1")
    with LearnerProcess() as cold:
        reference = probed(cold)
        assert not isinstance(cold._proc, prewarmed.WarmProcess)
    assert seen["uid"] in sandbox.SANDBOX_UIDS and seen["uid"] != reference["uid"]
    assert seen["caps"] == ["0000000000000000"] * 3 and seen["nnp"] == "1"
    for key in ("cwd", "passwd", "home", "network", "course", "cpu", "as", "fsize", "nproc", "core", "caps", "nnp"):
        assert seen[key] == reference[key], key
    assert seen["passwd"] is False and seen["network"] is False and seen["course"] is False
    assert seen["ppid"] == 0  # the zygote's helper lives outside its PID namespace (a cold start's parent is PID 1)
    # Its PID namespace holds only the sandbox's PID 1, the placeholder that keeps it alive, and itself.
    assert len(seen["pids"]) == 3 and seen["pids"][:2] == [1, 2]
    assert set(seen["env"]) >= {"PATH", "HOME"} and not any(k.startswith("GRADCOURSE") for k in seen["env"])


FIGURES = r"""
import numpy as np, matplotlib.pyplot as plt
h = np.logspace(-14, -1, 27)
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
left.loglog(h, h ** 0.5, "o-", label="(f(z + h) - f(z)) / h")
left.loglog(h, h ** 2 + 1e-17, "s-", label=r"$\frac{1}{2h}$ centred")
left.set_xlabel("h"); left.set_title(r"$\alpha \cdot 10^{-5}$"); left.legend()
image = right.imshow(np.outer(np.arange(5), np.arange(5)) - 8.0, cmap="RdBu_r")
right.set_title("J = diag(p) - p p^T"); fig.colorbar(image, ax=right)
plt.show()
fig, ax = plt.subplots()
ax.semilogy([1, 2, 3], [1e3, 1e-3, 1e9]); ax.set_ylabel(r"$\|g\|_2$")
plt.show()
"""


def test_a_warm_learner_draws_the_same_figures_as_a_cold_one(monkeypatch):
    """The warm interpreter drew figures and typeset math before forking: its fonts and caches must serve the
    learner as they would serve a fresh interpreter, pixel for pixel and with nothing on stderr."""
    with LearnerProcess() as warm:
        warm_report = warm.run_cell("<figures>", FIGURES, outputs=True)
        assert isinstance(warm._proc, prewarmed.WarmProcess)
    # Nothing waits for a warm learner but the zygote's helper: its memory and CPU reach the log only from there.
    assert warm.peak_kb > 10_000 and warm.cpu_seconds > 0.05
    monkeypatch.setenv(prewarmed.COLD_ENV, "1")
    with LearnerProcess() as cold:
        cold_report = cold.run_cell("<figures>", FIGURES, outputs=True)
    assert warm_report.ok and cold_report.ok, (warm_report.error, cold_report.error)
    images = [[o["data"]["image/png"] for o in report.outputs if "image/png" in o.get("data", {})]
              for report in (warm_report, cold_report)]
    assert len(images[1]) == 2 and images[0] == images[1]
    assert [o for o in warm_report.outputs if o.get("name") == "stderr"] == []
    assert warm_report.outputs == cold_report.outputs


def test_nothing_one_learner_does_reaches_the_next():
    tamper = ("import numpy as np, sys, os, matplotlib\n"
              "np.allclose = lambda *a, **k: True\n"
              "sys.modules['json'] = None\n"
              "matplotlib.rcParams['lines.linewidth'] = 99\n"
              "open('/tmp/left-behind', 'w').write('answers')\n"
              "import builtins; builtins.LEAKED = 1\n")
    check = ("import numpy as np, sys, os, builtins, matplotlib\n"
             "def state():\n"
             "    return [np.allclose([0.0], [1.0]), sys.modules.get('json', 'absent') is None,\n"
             "            float(matplotlib.rcParams['lines.linewidth']), os.path.exists('/tmp/left-behind'),\n"
             "            hasattr(builtins, 'LEAKED'),\n"
             "            [p for p in ('/', '/dev', '/dev/shm') if os.access(p, os.W_OK)]]\n")
    with LearnerProcess() as first:
        assert first.run_cell("<tamper>", tamper).ok
        assert first.run_cell("<check>", check).ok
        assert first.function("state")() == [True, True, 99.0, True, True, []]  # /tmp is its only writable place
    with LearnerProcess() as second:
        assert second.run_cell("<check>", check).ok
        assert second.function("state")() == [False, False, 1.5, False, False, []]


def test_the_placeholder_is_out_of_the_learner_s_reach_and_a_killed_sandbox_costs_one_restart():
    with LearnerProcess(call_seconds=5) as process:
        assert process.run_cell("<def>", "def double(x):\n    return 2 * x\n").ok
        report = process.run_cell("<kill>", "import os, signal\nos.kill(2, signal.SIGKILL)\n", 5)
        assert not report.ok and "PermissionError" in report.error  # root's, with no capability: not the learner's
        process._proc.kill()  # the sandbox dies under it all the same: that call fails, the next starts again
        with pytest.raises(LearnerCrash):
            process.function("double")(21)
        assert process.function("double")(21) == 42  # restarted in a new sandbox, its cells replayed
        assert process.restarts == 1


def test_the_warm_interpreter_comes_back_if_it_dies():
    with LearnerProcess() as process:
        assert process.run_cell("<x>", "x = 1").ok
    zygote = prewarmed._ZYGOTE._proc
    assert zygote is not None and zygote.poll() is None
    os.kill(zygote.pid, signal.SIGKILL)
    zygote.wait()
    with LearnerProcess() as process:
        assert process.run_cell("<x>", "x = 2").ok
        assert isinstance(process._proc, prewarmed.WarmProcess)
    assert prewarmed._ZYGOTE._proc.pid != zygote.pid


def test_a_learner_that_crashes_reports_how(cold):
    # The cold path's report, for comparison with the warm one below (same words either way).
    with LearnerProcess() as process:
        report = process.run_cell("<exit>", "import os\nos._exit(3)\n")
        assert report.lost and "status 3" in report.error


def test_a_warm_learner_that_crashes_reports_how():
    with LearnerProcess() as process:
        report = process.run_cell("<exit>", "import os\nos._exit(3)\n")
        assert report.lost and "status 3" in report.error
        report = process.run_cell("<kill>", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        assert report.lost and "SIGKILL" in report.error, report.error



FIGURE = r"""
import numpy as np
import matplotlib.pyplot as plt
from IPython import get_ipython
from matplotlib.figure import Figure
h = np.logspace(-14, -1, 27)
fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3))
left.loglog(h, h * 1e3 + 1e-12, "o-", label="forward")
left.legend()
image = right.imshow(np.outer(np.arange(4.0), np.arange(3.0)), cmap="RdBu_r")
right.set_title(r"$J = \mathrm{diag}(p) - p p^\top$")
fig.colorbar(image, ax=right)
printer = get_ipython().display_formatter.formatters["image/png"].type_printers[Figure]
print(getattr(printer, "func", printer).__module__)  # IPython's is a partial of its print_figure
"""


def figure_of(process: LearnerProcess) -> tuple:
    """What printed the cell's figure (its module) and the figure's pixels."""
    import base64
    import io

    import matplotlib.image as mimage
    report = process.run_cell("<figure>", FIGURE, outputs=True)
    assert report.ok, report.error
    printer = "".join(o.get("text", "") for o in report.outputs if o.get("output_type") == "stream").strip()
    (png,) = [o["data"]["image/png"] for o in report.outputs if "image/png" in o.get("data", {})]
    return printer, mimage.imread(io.BytesIO(base64.b64decode(png)), format="png")


def test_a_warm_learner_draws_each_figure_once_with_the_pixels_of_a_cold_ones(monkeypatch):
    import numpy as np
    with LearnerProcess() as warm:
        warm_printer, warm_pixels = figure_of(warm)
    monkeypatch.setenv(prewarmed.COLD_ENV, "1")
    with LearnerProcess() as cold:
        cold_printer, cold_pixels = figure_of(cold)
    assert (warm_printer, cold_printer) == ("tight_png", "IPython.core.pylabtools")
    assert warm_pixels.shape == cold_pixels.shape and np.array_equal(warm_pixels, cold_pixels)
