"""Runs inside the sandbox: the learner's cells in an IPython shell, each cell's outputs kept as notebook outputs.

One interpreter per submission both runs the notebook (for the outputs the learner sees in the feedback) and
answers the grader's calls: no kernel, no second sandbox, no second run of the learner's code. Magics, rich
display and inline figures behave as in a notebook. Imports only the standard library, NumPy and IPython.
"""

import io
import json
import os
import sys
import tempfile

os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # figures become outputs
if "IPYTHONDIR" not in os.environ:  # zygote.py sets its own, outside any sandbox
    os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="ipython-")

from IPython.core.displayhook import DisplayHook  # noqa: E402
from IPython.core.displaypub import DisplayPublisher  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets import Type  # noqa: E402
from traitlets.config import Config  # noqa: E402

MAX_STREAM = 1024**2  # per cell and stream: the grader keeps far less; this only bounds the channel
MAX_CELL_OUTPUT = 3 * 1024**2  # all outputs of one cell, as JSON: under the wire's header budget (4 MiB)
outputs: list = []  # the outputs of the cell being run


class Stream(io.TextIOBase):
    """stdout or stderr of a cell, in order with its other outputs, as a notebook would show them."""

    def __init__(self, name):
        self.name, self.sent = name, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = MAX_STREAM - self.sent
        if room > 0 and text:
            piece = text[:room]
            self.sent += len(piece)
            last = outputs[-1] if outputs else {}
            if last.get("output_type") == "stream" and last.get("name") == self.name:
                last["text"] += piece
            else:
                outputs.append({"output_type": "stream", "name": self.name, "text": piece})
        return len(text)


class Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False):
        outputs.append({"output_type": "display_data", "data": data, "metadata": metadata or {}})

    def clear_output(self, wait=False):
        outputs.clear()


class Hook(DisplayHook):
    """The value of a cell's last expression, as an execute_result rather than a printed ``Out[n]:``."""

    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        outputs.append({"output_type": "execute_result", "data": format_dict, "metadata": md_dict or {}})

    def finish_displayhook(self):
        pass


class Shell(InteractiveShell):
    displayhook_class = Type(Hook)
    display_pub_class = Type(Publisher)

    def _showtraceback(self, etype, evalue, stb):
        outputs.append({"output_type": "error", "ename": getattr(etype, "__name__", str(etype)),
                        "evalue": str(evalue), "traceback": list(stb)})


_shell = None


def shell(namespace: dict) -> Shell:
    global _shell
    if _shell is None:
        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "NoColor"
        _shell = Shell.instance(config=config, user_ns=namespace)
    return _shell


def run(source: str, namespace: dict, count: int = 1, rich: bool = True) -> tuple[bool, list]:
    """Run one cell; return whether it succeeded and its outputs. ``rich=False`` (a replay, whose outputs nobody
    sees): figures and other rich displays are not rendered, only their text."""
    ip = shell(namespace)
    ip.execution_count = count  # tracebacks say "Cell In[count]", as in the notebook
    outputs.clear()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Stream("stdout"), Stream("stderr")
    formats = ip.display_formatter.active_types
    if not rich:
        ip.display_formatter.active_types = ["text/plain"]
    try:
        result = ip.run_cell(source, store_history=False)
    finally:
        sys.stdout, sys.stderr = saved
        ip.display_formatter.active_types = formats
    # Only JSON goes back (e.g. a repr's metadata with odd keys becomes strings).
    return result.success, _within_budget(json.loads(json.dumps(outputs, default=str)))


def _within_budget(cell_outputs: list) -> list:
    """The cell's outputs, in order, until they would pass MAX_CELL_OUTPUT bytes; then a note instead of the rest.
    The grader keeps far less than this; the bound is what lets a cell with a thousand figures still be sent."""
    kept, size = [], 0
    for i, output in enumerate(cell_outputs):
        size += len(json.dumps(output))
        if size > MAX_CELL_OUTPUT:
            note = f"[{len(cell_outputs) - i} more outputs of this cell not kept: too large]\n"
            return [*kept, {"output_type": "stream", "name": "stderr", "text": note}]
        kept.append(output)
    return kept
