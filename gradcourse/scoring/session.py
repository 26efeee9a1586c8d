"""The trusted side of a learner process: start it in the sandbox, load code cells, call functions.

A learner's function looks like a local function to the course's named checks (:class:`LearnerFunction`), but
each call crosses into a fresh sandboxed interpreter and only numbers come back. A call that hangs or kills its
interpreter costs that call only: the process is started again, with the cells that loaded before, for the next.

Everything a submission does — its cells, the replays after a restart, the calls — spends one wall-clock budget
that no cell can stretch; anything the sandbox says that is not a well-formed frame ends that process at once.
A sandbox that cannot start is the grader's problem, never the learner's: :class:`SandboxFault`.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import graph, prewarmed, sandbox, wire

HERE = Path(__file__).resolve().parent
# Session-wide: a call has its own wall-clock limit, the process a CPU budget for all of them.
SESSION_LIMITS = sandbox.Limits(cpu_seconds=120, wall_seconds=3600, output_bytes=256 * 1024)
REPLAY_SLACK = 3
START_SECONDS = 60
START_TRIES = 2  # a start that fails once on a loaded machine gets one more chance before the submission is refused
EXIT_GRACE_SECONDS = 2.0  # a process that closed its channel is given this long to exit before it is killed
QUEUED_REPLIES = 8  # frames read ahead of the grader: a flood of them blocks the sender instead of filling memory


class LearnerTimeout(Exception):
    pass


class LearnerCrash(Exception):
    pass


class SandboxFault(RuntimeError):
    """The sandboxed interpreter could not start (before any learner code ran in it): not the learner's doing."""


class Budget:
    """One wall-clock deadline for everything a submission does (``seconds=None``: no deadline)."""

    def __init__(self, seconds: float | None = None):
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def cap(self, seconds: float) -> float:
        """``seconds``, cut to what is left; LearnerTimeout when nothing is."""
        left = self.remaining()
        if left <= 0:
            raise LearnerTimeout(f"the submission used its whole time budget ({self.seconds:g} s)")
        return min(seconds, left)


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
    hung: set = field(default_factory=set)  # functions that ran out of time once: not called again
    confined: bool = True  # False only when the instructor explicitly chose to grade without the sandbox
    budget: Budget = field(default_factory=Budget)

    def __post_init__(self):
        self._proc = None
        self._identity = None
        self._sandbox_ns = self._runner_pid = self._runner_host_pid = None
        self._keep: set[int] = {1}  # pids inside the sandbox that are not the learner's: its PID 1 (and placeholder)
        self._keep_host: set[int] = set()  # those and the runner, as host pids
        self.peak_kb = 0  # the largest peak resident memory of its interpreters, where known (warm starts)
        self.cpu_seconds = 0.0  # the CPU time of all its interpreters, where known (warm starts)

    # -- process life -------------------------------------------------------------------------------------
    def _start(self) -> None:
        """Start the interpreter, retrying once; SandboxFault if it cannot: no learner code has run in it yet."""
        for attempt in range(1, START_TRIES + 1):
            try:
                return self._start_once()
            except (LearnerCrash, OSError, sandbox.SandboxUnavailable) as exc:
                self.close()
                if attempt == START_TRIES:
                    raise SandboxFault(f"the sandboxed interpreter could not start: {exc}") from None

    def _start_once(self) -> None:
        argv = [sys.executable, "-I", str(HERE / "runner.py")]
        self._keep = {1}
        if self.confined:
            self._identity = sandbox.Identity()
            self._proc = self._start_warm() if prewarmed.usable() else None
            if self._proc is None:
                cmd = sandbox.command(argv, limits=self.limits, extra_ro=[HERE], identity=self._identity)
                self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, start_new_session=True)
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="gradcourse-learner-")
            cmd, cwd = sandbox.unconfined_command(argv, self.limits), self._scratch.name
            env = {**sandbox.UNCONFINED_ENV, "HOME": cwd}
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          start_new_session=True, env=env, cwd=cwd)
        self._replies: queue.Queue = queue.Queue(maxsize=QUEUED_REPLIES)
        self._stopped = threading.Event()
        threading.Thread(target=self._read_replies, args=(self._proc.stdout, self._replies, self._stopped),
                         daemon=True).start()
        self._outbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._write_requests, args=(self._proc.stdin, self._outbox), daemon=True).start()
        self._stderr = sandbox.CappedReader(self._proc.stderr, self.limits.output_bytes)
        try:
            ready = self._replies.get(timeout=START_SECONDS)
        except queue.Empty:
            ready = TimeoutError(f"it did not start within {START_SECONDS} s")
        if isinstance(ready, dict) and ready.get("ready"):
            self._sandbox_ns, self._runner_pid = ready.get("ns"), ready.get("pid")
            inside = dict(_processes_in(self._sandbox_ns)) if self._isolated() else {}
            self._runner_host_pid = next((pid for pid, nspid in inside.items() if nspid == self._runner_pid), None)
            self._keep_host = {pid for pid, nspid in inside.items() if nspid in self._keep | {self._runner_pid}}
            if isinstance(self._proc, prewarmed.WarmProcess) and self._proc.helper_pid:
                # A process cloned with CLONE_PARENT is the runner's sibling: the zygote's helper, outside the
                # sandbox, is its parent. The helper is kept; its other children are searched like the rest.
                self._keep_host.add(self._proc.helper_pid)
        if isinstance(ready, Exception) or not (isinstance(ready, dict) and ready.get("ready")):
            code = self._proc.poll()
            self.close()
            self._stderr.join(timeout=1)  # the pipe has closed with the process: what it said is complete
            detail = self._stderr.data[-500:].decode(errors="replace").strip()
            reason = _crash_reason(code, ready if isinstance(ready, Exception) else
                                   RuntimeError("unexpected first message"))
            raise LearnerCrash(reason + (f" ({detail})" if detail else ""))

    def _start_warm(self) -> "prewarmed.WarmProcess | None":
        """The pre-warmed interpreter forked into a fresh sandbox; None (a cold start) where that cannot be done."""
        try:
            warm = prewarmed.spawn(self.limits, self._identity, extra_ro=[HERE])
        except prewarmed.WarmUnavailable as exc:
            prewarmed.log.warning("starting a fresh interpreter instead of the pre-warmed one: %s", exc)
            return None
        self._keep = {1, *warm.keep}
        return warm

    @staticmethod
    def _read_replies(stream, replies: queue.Queue, stopped: threading.Event) -> None:
        while not stopped.is_set():
            try:
                item = wire.read_frame(stream)
            except Exception as exc:  # noqa: BLE001 - whatever the bytes were, this channel is finished
                item = exc
            while not stopped.is_set():
                try:
                    replies.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if isinstance(item, Exception):
                return

    @staticmethod
    def _write_requests(stream, outbox: queue.Queue) -> None:
        """Writes happen here, never in the grader's thread: a process that stops reading blocks only this thread,
        until the process is killed and the pipe breaks."""
        while (frame := outbox.get()) is not None:
            try:
                stream.write(frame)
                stream.flush()
            except (OSError, ValueError):  # broken pipe or closed stream: the reply queue reports the crash
                return

    def close(self) -> None:
        """Kill the interpreter and everything it started; then give back its uid."""
        if self._proc is not None:
            self._stopped.set()
            self._outbox.put(None)
            if isinstance(self._proc, prewarmed.WarmProcess):
                self._proc.kill()
                self.peak_kb = max(self.peak_kb, self._proc.peak_kb)
                self.cpu_seconds += self._proc.cpu_seconds
            else:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait()
            self._proc = None
        if self._identity is not None:
            self._identity.release()
            self._identity = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ask(self, request: dict, seconds: float, callbacks: dict | None = None, limit: int = 0):
        while self._proc is None:  # bring a restarted process back to where the last one was
            self.budget.cap(seconds)  # no restart (nor its replays) once the budget is spent
            self._start()
            for cell in list(self.cells):
                try:  # these ran within their limit once; a loaded machine gets some slack the second time
                    self._request({"op": "exec", "name": cell[0], "source": cell[1]}, REPLAY_SLACK * seconds)
                except (LearnerTimeout, LearnerCrash):
                    self.cells.remove(cell)  # it no longer runs as it did: start again without it
                    break
        return self._request(request, seconds, callbacks, limit)

    def _send(self, message) -> None:
        """Send a message, or a payload already encoded (a callback's answer, encoded where it could still fail)."""
        # Encoded here, so that a value that cannot be sent fails the caller, not a thread.
        payload = message if isinstance(message, bytes) else wire.encode(message)
        self._outbox.put(struct.pack(">I", len(payload)) + payload)

    def _request(self, request: dict, seconds: float, callbacks: dict | None = None, limit: int = 0):
        seconds = self.budget.cap(seconds)
        self._signal_runner(signal.SIGCONT)  # stopped since its last reply (see _end_strays)
        self._send(request)
        deadline = time.monotonic() + seconds
        while True:
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                self.restarts += 1
                raise LearnerTimeout(f"no answer within {seconds:g} s") from None
            if isinstance(reply, Exception) or not isinstance(reply, dict):
                raise LearnerCrash(self._ended(reply))
            if reply.get("op") == "callback":
                self._send(_answer_callback(callbacks or {}, reply, limit))
                continue
            self._end_strays()
            return reply

    def _isolated(self) -> bool:
        return self.confined and bool(self._sandbox_ns) and self._sandbox_ns != _OWN_NS

    def _signal_runner(self, sig) -> None:
        if self._runner_host_pid is not None:
            try:
                os.kill(self._runner_host_pid, sig)
            except ProcessLookupError:
                pass

    def _end_strays(self) -> None:
        """Between two requests nothing of the learner's may compete for the CPU with other students' sandboxes:
        every process their code left running is killed (all but the sandbox's init, the placeholder that keeps a
        warm start's sandbox alive, and the runner), and the
        runner itself, with any thread their code started in it, is stopped until the next request."""
        if not self._isolated():
            return
        self._signal_runner(signal.SIGSTOP)
        for _ in range(10):  # a process may fork while we look; it cannot outrun ten rounds with its small limit
            # Everything in the sandbox descends from its PID 1, the runner or (a sibling made with CLONE_PARENT)
            # the runner's parent; an orphan goes to PID 1. In this PID namespace or in one the learner nested in
            # it, their process trees hold every stray.
            strays = {pid for pid in _descendants(self._keep_host) - self._keep_host if not _zombie(pid)}
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 1.0  # a kill takes effect when the process is next scheduled
            while not all(map(_zombie, strays)) and time.monotonic() < deadline:
                time.sleep(0.001)

    def _ended(self, reply) -> str:
        """The channel broke (closed, or a malformed or oversized frame): end the process, say why."""
        code = None
        if isinstance(reply, EOFError):  # it is exiting on its own: let it say how
            try:
                code = self._proc.wait(timeout=EXIT_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        self.close()
        self.restarts += 1
        if not isinstance(reply, Exception):
            reply = wire.WireError(f"unexpected message of type {type(reply).__name__}")
        return _crash_reason(code, reply)

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
        except wire.WireError as exc:  # the learner's cell itself cannot be sent (too large): their failure
            return CellReport(name, False, f"the cell cannot be run ({exc})", lost=True)
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
        # The learner's code may call the grader's functions back, with arrays of its choosing: no larger than
        # what this call sent, so the grader never computes on a learner-sized input.
        limit = max([np.size(a) for a in args if isinstance(a, np.ndarray)] + [CALLBACK_MIN_ELEMENTS])
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
        if self.__name__ in self.process.hung:
            raise LearnerTimeout(f"{self.__name__} ran out of time on an earlier input; it is not called again")
        try:
            reply = self.process._ask({"op": "call", "name": self.__name__, "args": sent},
                                      self.process.call_seconds, callbacks, limit)
        except LearnerTimeout:
            # One stuck function must not spend the whole submission's budget, one timeout per call of its checks.
            self.process.hung.add(self.__name__)
            raise
        if not reply.get("ok"):
            raise _learner_exception(reply.get("error", "Error: unknown"))
        data_args = [a for a in args if not callable(a)]
        for mine, after in zip(data_args, reply.get("args_after", [])):  # so checks can see a mutated input
            if isinstance(mine, np.ndarray) and isinstance(after, np.ndarray) and after.shape == mine.shape:
                np.copyto(mine, after, casting="unsafe")
            elif graph.is_node(mine) and isinstance(after, dict) and isinstance(after.get("grads"), list):
                graph.take_grads(mine, after["grads"])
        return reply.get("result")


CALLBACK_MIN_ELEMENTS = 64

_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ?(.*)$", re.S)


def _learner_exception(error: str) -> Exception:
    """Rebuild the learner's exception by name (a plain Exception subclass: nothing of theirs is imported)."""
    m = _NAMED.match(error)
    name, message = (m.group(1).rsplit(".", 1)[-1], m.group(2)) if m else ("Exception", error)
    if name == "NotImplementedError":
        return NotImplementedError(message)
    return type(name, (Exception,), {})(message)


def _answer_callback(callbacks: dict, request: dict, limit: int) -> dict | bytes:
    """Evaluate one of the grader's own functions for the learner's code (numbers in, numbers out): the answer,
    encoded when it is a result (encoding is what can fail, and it is done once)."""
    fn = callbacks.get(request.get("id"))
    args = request.get("args", [])
    if fn is None or not isinstance(args, list):
        return {"ok": False, "error": "no such function"}
    if any(_elements(a) > limit for a in args):
        return {"ok": False, "error": f"ValueError: arrays larger than {limit} entries are not evaluated"}
    try:
        return wire.encode({"ok": True, "result": fn(*args)})  # the whole reply: fail here, not in the sender
    except Exception as exc:  # noqa: BLE001 - the learner chose the inputs; report, do not crash the grader
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


_OWN_NS = os.readlink("/proc/self/ns/pid")


def _processes_in(namespace: str):
    """(host pid, pid inside the namespace) of every process in that pid namespace."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry.name}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if fields.get("State", "").split()[:1] != ["Z"] and "NSpid" in fields:  # a zombie uses no CPU
            yield int(entry.name), int(fields["NSpid"].split()[-1])


def _descendants(roots: set[int]) -> set[int]:
    """Host pids of every descendant of these processes, from each thread's /proc children list."""
    found, stack = set(), list(roots)
    while stack:
        pid = stack.pop()
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                kids = _read_proc(f"/proc/{pid}/task/{tid}/children").split()
            except OSError:
                continue
            for kid in map(int, kids):
                if kid not in found:
                    found.add(kid)
                    stack.append(kid)
    return found


def _read_proc(path: str) -> bytes:
    """A /proc file's bytes. (This runs after every request of every submission: a raw read costs a third of a
    text-mode ``open``, and a /proc file is read to its end however long it is.)"""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _zombie(pid: int) -> bool:
    """Dead and waiting for its parent (a zombie uses no CPU), or gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _elements(value) -> float:
    if not isinstance(value, (np.ndarray, np.generic, list, tuple)):
        return 0
    try:
        return np.size(np.asarray(value, dtype=object))
    except Exception:  # noqa: BLE001 - ragged or odd: too odd to evaluate
        return float("inf")


def _crash_reason(code, reply: Exception) -> str:
    if code is not None and (code < 0 or code > 128):  # > 128: the signal as reported through bwrap
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"the interpreter was killed by signal {name}"
    if code is not None:
        return f"the interpreter exited with status {code}"
    return str(reply)
