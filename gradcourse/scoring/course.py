"""The nbgrader course folder: the one way to run nbgrader in it, and the names the course keeps there.

The instructor's commands, the lab generator, the tests and the benches all run nbgrader through :func:`run`, so
they see the same environment (nbgrader shells out to ``alembic``, which lives beside this interpreter) and the
same course settings (``<course>/nbgrader_config.py``, which calls :func:`gradcourse.scoring.config.harden`).
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
SECRET_FILE = ".gradcourse-secret"   # mixed into every student's hidden inputs; created on first use

# What `python -m nbgrader` runs, after quicken() where the course package can be imported (where it cannot, the
# course's nbgrader_config.py says so and grades nothing, as before).
NBGRADER = ("try:\n    from gradcourse.scoring.course import quicken\n"
            "except ImportError:\n    pass\n"
            "else:\n    quicken()\n"
            "from nbgrader.apps.nbgraderapp import main\nmain()\n")


# jsonschema (through nbformat) imports these where they are installed (jupyter_events asks for them), only to check
# string formats ("iri", "uri", "date-time", "color", "duration", ...), and rfc3987_syntax builds some 40 lark
# grammars as it loads: together 3.5 of the 5 s nbgrader took to start. Format checks run only for a validator given
# a format checker: no schema nbformat or nbgrader validates declares a format, nothing else imports these modules,
# and nothing nbgrader starts checks one (jupyter_events does, in a Jupyter server). Set to None in sys.modules, a
# module fails to import, and jsonschema goes without that checker as where the package is not installed. (idna is
# not here: requests imports it.)
FORMAT_CHECKERS_ONLY = ("rfc3987", "rfc3987_syntax", "rfc3986_validator", "rfc3339_validator", "webcolors",
                        "isoduration", "uri_template", "fqdn", "jsonpointer")


def skip_format_checkers() -> None:
    """Before jsonschema is imported in this process: without the modules of :data:`FORMAT_CHECKERS_ONLY`."""
    for name in FORMAT_CHECKERS_ONLY:
        sys.modules.setdefault(name, None)


def quicken() -> None:
    """In an nbgrader process, before nbgrader is imported: drop start-up and per-submission work whose result
    nbgrader never uses or already has. Nothing it computes, checks or writes changes. (Not for a process that
    lives on: one that deleted and re-created a gradebook would find it without tables.)"""
    skip_format_checkers()
    import jsonschema
    import nbgrader.api
    jsonschema.validate = _schema_checked_once(jsonschema.validate)
    nbgrader.api.create_engine = _engine_per_url(nbgrader.api.create_engine)
    metadata = nbgrader.api.Base.metadata
    metadata.create_all = _tables_checked_once(metadata.create_all)


def _schema_checked_once(validate):
    """``jsonschema.validate``, checking each schema against its metaschema once per process, not on every call.
    nbgrader validates each cell's metadata with it, several times per notebook, against the same schema file: that
    check of the schema was 90% of the time nbgrader spent on cell metadata. The instance is validated, and any
    error raised, exactly as before; a schema is checked again unless it equals one already checked."""
    import copy

    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    checked = []   # (copy of a schema that passed, its validator class): one or two per process

    @functools.wraps(validate)
    def validate_once(instance, schema, cls=None, *args, **kwargs):
        cls = cls or validator_for(schema)
        if not any(cls is known_cls and schema == known for known, known_cls in checked):
            cls.check_schema(schema)
            try:
                checked.append((copy.deepcopy(schema), cls))
            except Exception:  # noqa: BLE001 - a schema that cannot be copied is simply checked every time
                pass
        error = best_match(cls(schema, *args, **kwargs).iter_errors(instance))
        if error is not None:
            raise error
    return validate_once


def _engine_per_url(create_engine):
    """nbgrader opens the gradebook about 9 times per submission, each time with a new SQLAlchemy engine, so every
    query was compiled anew (SQLAlchemy caches compiled SQL per engine) and the driver set up again. One engine per
    URL and arguments for the process: the same database, the same sessions and transactions (each gradebook still
    opens its own, and ``close()`` still returns the connections)."""
    engines = {}

    @functools.wraps(create_engine)
    def shared(url, *args, **kwargs):
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        key = (text, args, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:  # e.g. connect_args: nothing to share it by
            return create_engine(url, *args, **kwargs)
        if key not in engines:
            engines[key] = create_engine(url, *args, **kwargs)
        return engines[key]
    return shared


def _tables_checked_once(create_all):
    """nbgrader's tables, created if missing, as each gradebook opens: that looks up every table, half the time of
    an open. Once they are all there for an engine (shared per URL by :func:`_engine_per_url`), they stay: nbgrader
    never drops a table."""
    done = set()

    @functools.wraps(create_all)
    def create_all_once(bind, tables=None, checkfirst=True):
        if tables is None and checkfirst and bind in done:
            return None
        result = create_all(bind, tables=tables, checkfirst=checkfirst)
        if tables is None and checkfirst:
            done.add(bind)
        return result
    return create_all_once


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the interpreter's ``bin/`` first on PATH, plus ``extra``."""
    base = dict(os.environ)
    base["PATH"] = str(Path(sys.executable).parent) + os.pathsep + base.get("PATH", "")
    return {**base, **(extra or {})}


def run(course, *argv: str, on_line=None, timeout: float | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``nbgrader <argv>`` in ``course`` with this interpreter; its log (stdout and stderr, interleaved as nbgrader
    wrote them) is streamed line by line to ``on_line`` and returned as ``stdout``. Past ``timeout`` seconds the
    process is killed and the return code is that of the kill."""
    command = [sys.executable, "-c", NBGRADER, *argv]
    proc = subprocess.Popen(command, cwd=course, env=env(extra_env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    log = []
    try:
        for line in proc.stdout:
            log.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        proc.wait()
    finally:
        if timer:
            timer.cancel()
    return subprocess.CompletedProcess(command, proc.returncode, "".join(log), "")
