"""The hardened nbgrader set-up, in one call from a course's ``nbgrader_config.py``: ``harden(c)``."""

from __future__ import annotations

from pathlib import Path


def harden(c) -> None:
    """Run each notebook in a fresh sandboxed interpreter, score outside it, make what the learner wrote inert and
    bounded, and serve feedback under a policy that runs no script."""
    import nbgrader
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput,
                                        DeduplicateIds, GetGrades, IgnorePattern, LimitOutput, OverwriteKernelspec)

    from .autograde import SandboxedGrading
    from .inert import TEMPLATES, InertNotebook
    from .overwrite import OverwriteCellsAtOnce
    from .savegrades import SaveAutoGradesAtOnce

    # Before nbgrader's own sanitizing reads the learner's metadata (a grade_id that is a list crashes it, and the
    # submission would go ungraded): drop whatever nbgrader would not accept, and bound everything else.
    c.Autograde.sanitize_preprocessors = [InertNotebook, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                          OverwriteCellsAtOnce, CheckCellMetadata]
    c.Autograde.autograde_preprocessors = [
        SandboxedGrading, IgnorePattern, ClearMetadataPreprocessor, InertNotebook, LimitOutput,
        SaveAutoGradesAtOnce, AssignLatePenalties, CheckCellMetadata,
    ]
    # Stock feedback shows the hidden tests' source (and so the per-student inputs' recipe): strip it. Notebooks
    # autograded before InertNotebook existed are made inert here too.
    c.GenerateFeedback.preprocessors = [InertNotebook, GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    # nbgrader's feedback template under a Content-Security-Policy (templates/feedback/gradcourse_csp.html.j2), set
    # for the feedback's exporter only: the formgrader's, configured from the same file, keeps its own template.
    nbgrader_templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    c.GenerateFeedback.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates)]
    c.GenerateFeedback.HTMLExporter.template_file = "gradcourse_csp.html.j2"
    # Math typeset to SVG as the page is made (the page runs no script, so a MathJax in the browser could not).
    c.GenerateFeedback.HTMLExporter.filters = {"markdown2html": "gradcourse.scoring.mathsvg.SvgMathMarkdown"}
    # A learner who deletes or empties a test cell gets it back, scored like any other (OverwriteCellsAtOnce is
    # nbgrader's OverwriteCells: its settings are these).
    c.OverwriteCells.add_missing_cells = True
    # nbconvert checks the whole notebook against its schema after every step (14 per submission here, a notebook
    # with its figures each time); once after the last step of each stage checks the same notebook nbgrader saves.
    c.Exporter.optimistic_validation = True


class NotHardened(RuntimeError):
    pass


def verify(course: Path) -> None:
    """Refuse to grade unless the course's nbgrader_config.py loads and scores outside the learner's process.

    nbgrader logs an error and goes on with its defaults when the config file raises, which would silently put
    the hidden tests back into the learner's kernel; this check turns that into a stop.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .autograde import SandboxedGrading

    path = Path(course) / "nbgrader_config.py"
    try:
        config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    except Exception as exc:  # noqa: BLE001 - any failure means nbgrader would run with its defaults
        raise NotHardened(f"{path} does not load ({type(exc).__name__}: {exc}); nbgrader would grade with its "
                          "unsafe defaults. Fix the file before grading.") from exc
    steps = config.Autograde.get("autograde_preprocessors", []) if isinstance(config, Config) else []
    if SandboxedGrading not in steps:
        raise NotHardened(f"{path} does not call gradcourse.scoring.config.harden(c): grading would run the "
                          "hidden tests inside the learner's kernel.")
