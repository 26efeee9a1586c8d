"""Every named check of the labs: the shared machinery in :mod:`.core`, the checks of each lab in its own module.

Notebooks import from here (``from gradcourse.grading.checks import grade, self_check, unfinished``); importing
the package registers every lab's checks in :data:`CHECKS`, in lab order.
"""
from .core import (CHECKS, EXACT_TOL, FAIL, FAULT, FD_STEP, FD_TOL, LARGE_LOGIT, LEARNER_FD_TOL, PASS,
                   PLAUSIBLE_TOL, PUBLIC_SEED, Check, CheckFailed, CourseError, Result, checks_for, grade,
                   notebook_language, run_check, self_check, student_seed, unfinished)
from . import lab00, lab01, lab02, lab03, lab04, lab05  # registration, in lab order

__all__ = ["CHECKS", "Check", "Result", "CheckFailed", "CourseError", "run_check", "grade", "self_check", "unfinished",
           "checks_for", "PUBLIC_SEED", "student_seed", "notebook_language", "PASS", "FAIL", "FAULT", "EXACT_TOL",
           "FD_STEP", "FD_TOL", "LARGE_LOGIT", "LEARNER_FD_TOL", "PLAUSIBLE_TOL", "lab00", "lab01", "lab02", "lab03",
           "lab04", "lab05"]
