"""Runs inside the sandbox: runs the learner's code cells (shell.py), then answers calls to their functions.

Requests and replies travel as frames (see wire.py) on the process's original stdin/stdout; the learner's own
prints are moved to stderr so they cannot corrupt the channel by accident. What the learner's code does here
only changes the values it returns: the grader compares them in its own process.

Started two ways: as a script in a fresh sandbox (``python -I runner.py``: :func:`main`), or already imported and
prepared in the pre-warmed interpreter of zygote.py, whose fork enters a fresh sandbox and calls :func:`serve`.
"""

import importlib.abc
import importlib.util
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import graph  # noqa: E402
import wire  # noqa: E402

channel_in = channel_out = shell = None
namespace = {"__name__": "__main__", "__builtins__": __builtins__}


def _stand_in(attr):
    if attr.startswith("__"):  # tools that walk sys.modules (tracebacks, inspect) ask for __file__ and the like
        raise AttributeError(attr)
    return lambda *args, **kwargs: None


class CourseStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The course package is not in here. Notebooks import it for their self-checks; they get no-ops instead,
    and nothing of the reference implementations."""

    def find_spec(self, name, path=None, target=None):
        if name == "gradcourse" or name.startswith("gradcourse."):
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__path__ = []
        module.__getattr__ = _stand_in


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def callback(handle):
    """A function of the grader's (e.g. the reference softmax handed to a finite-difference helper): each call is
    answered by the grader."""

    def call_grader(*args):
        wire.write_frame(channel_out, {"op": "callback", "id": handle, "args": list(args)})
        reply = wire.read_frame(channel_in)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error", "the grader's function failed"))
        return reply.get("result")

    return call_grader


def resolve(arg, graphs):
    if isinstance(arg, dict) and set(arg) == {"__callback__"}:
        return callback(arg["__callback__"])
    if isinstance(arg, dict) and set(arg) == {"__learner__"}:
        return namespace.get(arg["__learner__"])
    if isinstance(arg, dict) and set(arg) == {"__graph__"}:
        if "Tensor" not in namespace:
            raise NameError("name 'Tensor' is not defined")
        built = graph.rebuild(arg["__graph__"], namespace["Tensor"])  # the notebook's own engine
        graphs[id(built[-1])] = built
        return built[-1]
    return arg


def after(arg, graphs):
    """What the grader gets back of an argument: the array as the call left it, or a graph's gradients."""
    if id(arg) in graphs:
        return {"grads": graph.grads(graphs[id(arg)])}
    return arg


def handle(request):
    op = request.get("op")
    if op == "exec":
        ok, outputs = shell.run(request["source"], namespace, request.get("count", 1), bool(request.get("outputs")))
        error = next((f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"), "")
        return {"ok": ok, "error": error, "outputs": outputs if request.get("outputs") else []}
    if op == "call":
        fn = namespace.get(request["name"])
        if not callable(fn):
            return {"ok": False, "error": f"NameError: {request['name']!r} is not defined"}
        graphs, sent = {}, request.get("args", [])
        try:
            args = [resolve(a, graphs) for a in sent]
            result = fn(*args)
            # Functions passed in (the grader's or the learner's own) have nothing to send back.
            args_after = [after(a, graphs) for a, raw in zip(args, sent)
                          if not (isinstance(raw, dict) and set(raw) & {"__callback__", "__learner__"})]
        except BaseException as exc:  # noqa: BLE001
            return {"ok": False, "error": describe(exc)}
        return {"ok": True, "result": result, "args_after": args_after}
    return {"ok": False, "error": f"unknown request {op!r}"}


def open_channel() -> None:
    """The frames keep the original stdin/stdout; whatever the learner prints goes to stderr."""
    global channel_in, channel_out
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)


def prepare() -> None:
    """Everything before the first learner cell. The course stub goes first: IPython's start-up must not find the
    real package."""
    global shell
    sys.meta_path.insert(0, CourseStub())
    import shell as shell_module
    shell = shell_module
    shell.shell(namespace)


# keyctl(2) has no wrapper in the C library; KEYCTL_JOIN_SESSION_KEYRING with no name makes a new, empty keyring.
KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING = 1


def own_session_keyring() -> None:
    """The kernel's session keyring is inherited whatever the uid: the grader's (a container's, a systemd
    service's) would be readable and writable here, and shared with every other sandbox."""
    import ctypes
    import errno
    import platform
    number = KEYCTL.get(platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    if number is None or libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        # ENOSYS: a kernel without keys has no keyring to share. EPERM: a seccomp filter (Docker's default one)
        # refuses keyctl to this process, and so to the learner's code after it.
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM):
            raise OSError(ctypes.get_errno(), "cannot leave the grader's session keyring")


def serve() -> None:
    own_session_keyring()
    # Start-up is not charged to the first cell. The pid and pid namespace, sent before any learner code runs, let
    # the grader find and end every other process of this sandbox after each request.
    wire.write_frame(channel_out, {"ok": True, "ready": True, "pid": os.getpid(),
                                   "ns": os.readlink("/proc/self/ns/pid")})
    while True:
        try:
            request = wire.read_frame(channel_in)
        except EOFError:
            break
        reply = handle(request)
        try:
            wire.write_frame(channel_out, reply)
        except Exception as exc:  # noqa: BLE001 - e.g. an object that only pretends to be an array; nothing sent yet
            wire.write_frame(channel_out, {"ok": False, "error": f"TypeError: the result cannot be returned ({exc})"})


if __name__ == "__main__":
    open_channel()
    prepare()
    serve()
