"""nbgrader configuration of the course (run nbgrader from this folder, or use
``python -m gradcourse.instructor`` from the repository root)."""
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "tensor-backward"
# One assignment per lab and language: lab00-en, lab00-es, ... (identical grade ids in both).
# Code cells are shared by the English and Spanish notebooks, so the stubs are language-neutral.
c.ClearSolutions.code_stub = {"python": "# ✍️\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "✍️"
c.ClearSolutions.enforce_metadata = True
# Every check answers in well under a second; a cell that runs for a minute is a runaway loop.
c.ExecutePreprocessor.timeout = 60
c.Execute.timeout = 60

# Grading you can trust (see the instructors' threat-model page): scores are computed outside the learner's
# process, the notebook runs once in a fresh sandboxed interpreter, learner content is made inert and bounded,
# and feedback has no hidden tests.
# nbgrader drops this whole file if it raises, and would then grade the stock way, inside the learner's kernel.
# So a missing course package must not raise: it names the course's own steps by path instead, which nbgrader
# fails to load for every submission, loudly. Feedback too: stock feedback shows the hidden tests' source.
# Nothing is graded or fed back until `pip install "gradcourse[grader]"`.
try:
    from gradcourse.scoring.config import harden
except ImportError as missing:  # noqa: F841 - named in the message below
    import sys

    print(f"nbgrader_config.py: the course package cannot be imported ({missing}); install it with "
          '`pip install "gradcourse[grader]"` in the environment that runs nbgrader. Nothing will be graded '
          "or fed back until then.", file=sys.stderr)
    c.Autograde.autograde_preprocessors = ["gradcourse.scoring.autograde.SandboxedGrading"]
    c.GenerateFeedback.preprocessors = ["gradcourse.scoring.inert.InertNotebook"]
else:
    harden(c)
