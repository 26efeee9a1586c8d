"""The trusted side of a learner process: start it in the sandbox, load code cells, call functions.

A learner's function looks like a local function to the course's named checks (:class:`LearnerFunction`), but
each call crosses into a fresh sandboxed interpreter and only numbers come back. A call that hangs or kills its
interpreter costs that call only: the process is started again, with the cells that loaded before, for the next.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import sandbox
from . import graph, wire

HERE = Path(__file__).resolve().parent
# Session-wide: a call has its own wall-clock limit, the process a CPU budget for all of them.
SESSION_LIMITS = sandbox.Limits(cpu_seconds=120, wall_seconds=3600, output_bytes=256 * 1024)
REPLAY_SLACK = 3
START_SECONDS = 60


class LearnerTimeout(Exception):
    pass


class LearnerCrash(Exception):
    pass


@dataclass
class CellReport:
    name: str
    ok: bool
    error: str = ""
    outputs: list = field(default_factory=list)  # as the sandbox reported them: to be checked before use
    lost: bool = False  # the cell hung or killed its interpreter (so it is left out of restarts)


@dataclass
class LearnerProcess:
    """One sandboxed interpreter running runner.py; restartable with the same cells."""

    call_seconds: float = 10.0
    limits: sandbox.Limits = SESSION_LIMITS
    cells: list[tuple[str, str]] = field(default_factory=list)  # (name, source) that loaded without hanging
    restarts: int = 0
    confined: bool = True  # False only when the instructor explicitly chose to grade without the sandbox

    def __post_init__(self):
        self._proc = None

    # -- process life -------------------------------------------------------------------------------------
    def _start(self) -> None:
        argv = [sys.executable, "-I", str(HERE / "runner.py")]
        if self.confined:
            cmd, env, cwd = sandbox.command(argv, limits=self.limits, extra_ro=[HERE]), None, None
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="gradcourse-learner-")
            cmd, cwd = sandbox.unconfined_command(argv, self.limits), self._scratch.name
            env = {**sandbox.UNCONFINED_ENV, "HOME": cwd}
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True, env=env, cwd=cwd)
        self._replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_replies, args=(self._proc.stdout, self._replies), daemon=True).start()
        self._stderr = sandbox.CappedReader(self._proc.stderr, self.limits.output_bytes)
        try:
            ready = self._replies.get(timeout=START_SECONDS)
        except queue.Empty:
            ready = TimeoutError(f"it did not start within {START_SECONDS} s")
        if isinstance(ready, Exception):
            code = self._proc.poll()
            self.close()
            raise LearnerCrash(f"the sandboxed interpreter could not start: {_crash_reason(code, ready)}")

    @staticmethod
    def _read_replies(stream, replies: queue.Queue) -> None:
        while True:
            try:
                replies.put(wire.read_frame(stream))
            except (EOFError, wire.WireError, OSError) as exc:
                replies.put(exc)
                return

    def close(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
            self._proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ask(self, request: dict, seconds: float, callbacks: dict | None = None):
        while self._proc is None:  # bring a restarted process back to where the last one was
            self._start()
            for cell in list(self.cells):
                try:  # these ran within their limit once; a loaded machine gets some slack the second time
                    self._request({"op": "exec", "name": cell[0], "source": cell[1]}, REPLAY_SLACK * seconds)
                except (LearnerTimeout, LearnerCrash):
                    self.cells.remove(cell)  # it no longer runs as it did: start again without it
                    break
        return self._request(request, seconds, callbacks)

    def _send(self, message: dict) -> None:
        try:
            wire.write_frame(self._proc.stdin, message)
        except (BrokenPipeError, OSError):
            pass  # the reply queue reports the crash

    def _request(self, request: dict, seconds: float, callbacks: dict | None = None):
        self._send(request)
        deadline = time.monotonic() + seconds
        while True:
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                self.restarts += 1
                raise LearnerTimeout(f"no answer within {seconds:g} s") from None
            if isinstance(reply, Exception):
                code = self._proc.wait() if self._proc else None
                self.close()
                self.restarts += 1
                raise LearnerCrash(_crash_reason(code, reply))
            if isinstance(reply, dict) and reply.get("op") == "callback":
                self._send(_answer_callback(callbacks or {}, reply))
                continue
            return reply

    # -- what the grader uses ------------------------------------------------------------------------------
    def run_cell(self, name: str, source: str, seconds: float = 20.0, outputs: bool = False,
                 count: int = 1) -> CellReport:
        """Run one code cell, with its outputs if asked; one that hangs or crashes is reported and left out of
        later restarts."""
        try:
            reply = self._ask({"op": "exec", "name": name, "source": source, "outputs": outputs, "count": count},
                              seconds)
        except (LearnerTimeout, LearnerCrash) as exc:
            return CellReport(name, False, f"{type(exc).__name__}: {exc}", lost=True)
        self.cells.append((name, source))
        return CellReport(name, bool(reply.get("ok")), str(reply.get("error", "")), reply.get("outputs") or [])

    def run(self, cells: list[tuple[str, str]], seconds: float = 20.0) -> list[CellReport]:
        return [self.run_cell(name, source, seconds, count=i) for i, (name, source) in enumerate(cells, start=1)]

    def function(self, name: str) -> "LearnerFunction":
        return LearnerFunction(self, name)


class LearnerFunction:
    """Stands in for the learner's function in a check: same call signature, values only."""

    def __init__(self, process: LearnerProcess, name: str):
        self.process, self.__name__ = process, name

    def __call__(self, *args):
        callbacks, sent = {}, []
        for arg in args:
            if isinstance(arg, LearnerFunction) and arg.process is self.process:
                sent.append({"__learner__": arg.__name__})  # the learner's own function, resolved over there
            elif callable(arg):
                callbacks[len(callbacks)] = arg
                sent.append({"__callback__": len(callbacks) - 1})
            elif graph.is_node(arg):
                sent.append({"__graph__": graph.describe(arg)})  # rebuilt over there with the notebook's Tensor
            else:
                sent.append(arg)
        reply = self.process._ask({"op": "call", "name": self.__name__, "args": sent},
                                  self.process.call_seconds, callbacks)
        if not reply.get("ok"):
            raise _learner_exception(reply.get("error", "Error: unknown"))
        data_args = [a for a in args if not callable(a)]
        for mine, after in zip(data_args, reply.get("args_after", [])):  # so checks can see a mutated input
            if isinstance(mine, np.ndarray) and isinstance(after, np.ndarray) and after.shape == mine.shape:
                np.copyto(mine, after, casting="unsafe")
            elif graph.is_node(mine) and isinstance(after, dict) and isinstance(after.get("grads"), list):
                graph.take_grads(mine, after["grads"])
        return reply.get("result")


_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ?(.*)$", re.S)


def _learner_exception(error: str) -> Exception:
    """Rebuild the learner's exception by name (a plain Exception subclass: nothing of theirs is imported)."""
    m = _NAMED.match(error)
    name, message = (m.group(1).rsplit(".", 1)[-1], m.group(2)) if m else ("Exception", error)
    if name == "NotImplementedError":
        return NotImplementedError(message)
    return type(name, (Exception,), {})(message)


def _answer_callback(callbacks: dict, request: dict) -> dict:
    """Evaluate one of the grader's own functions for the learner's code (numbers in, numbers out)."""
    fn = callbacks.get(request.get("id"))
    if fn is None:
        return {"ok": False, "error": "no such function"}
    try:
        result = fn(*request.get("args", []))
        wire.encode(result)
    except Exception as exc:  # noqa: BLE001 - the learner chose the inputs; report, do not crash the grader
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "result": result}


def _crash_reason(code, reply: Exception) -> str:
    if code is not None and (code < 0 or code > 128):  # > 128: the signal as reported through bwrap
        number = -code if code < 0 else code - 128
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        return f"the interpreter was killed by signal {name}"
    if code is not None:
        return f"the interpreter exited with status {code}"
    return str(reply)
