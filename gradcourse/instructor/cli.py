"""Instructor commands: ``python -m gradcourse.instructor [--course DIR] <command>``, from any folder.

    generate            regenerate grader/source, grader/release, labs/, solutions/labs/ from grader/labsrc
    release             nbgrader generate_assignment for every lab and language (fills the gradebook)
    collect FOLDER      file learners' notebooks under grader/submitted/<student>/<released assignment>/, refusing
                        links, special files and anything the notebook claims about where it belongs; reads
                        nbgrader's layout and Moodle's and Canvas's downloads (--roster FILE: LMS numbers -> ids)
    autograde [A ...]   nbgrader autograde every assignment (or those named) that has submissions, with progress;
                        --jobs N grading processes side by side, --shard K/N for one machine's share of a class,
                        --student ID for a few students; exits 1 and lists what could not be graded
    feedback            nbgrader generate_feedback (HTML per student in grader/feedback/)
    export              nbgrader export, then one score per lab per student in grader/grades_by_lab.csv;
                        --lms canvas|moodle also writes the file that LMS's gradebook import reads
    summary             per-check table of the class and one line per problem submission
    report              the class report: grader/reports/class-report-<lang>.html (checks, pitfalls, learners,
                        plots) and a CSV beside it, from the last graded run

``--course DIR`` names the nbgrader course folder (default: this repository's ``grader/``), so the commands also
run on a copy of the course or on an installed course elsewhere.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from ..lang import tr
from ..scoring import course as nbgrader_course
from . import batch
from .submissions import inspect_course, inspect_submission, lab_of, refused_submissions, student_dirs



def _course(args):
    return Path(args.course).resolve()


def nbgrader(course, *argv, on_line=None, quiet=False, env=None):
    """:func:`gradcourse.scoring.course.run`, returning the exit code. Unless ``quiet`` (the caller reports failures
    itself), the end of the log is shown when it fails."""
    done = nbgrader_course.run(course, *argv, on_line=on_line, extra_env=env)
    if done.returncode and not quiet:
        sys.stdout.write("".join(done.stdout.splitlines(True)[-30:]))
    return done.returncode


def assignments(course, folder="source"):
    return sorted(p.name for p in (course / folder).iterdir() if p.is_dir()) if (course / folder).is_dir() else []


def cmd_generate(args):
    from ..authoring import labgen
    only = args.lab or None
    if args.if_stale:
        only = [lab for lab in labgen.stale() if not args.lab or lab in args.lab]
        if not only:
            print("the labs are up to date with grader/labsrc")
            return 0
    names = labgen.generate(labgen.REPO, args.out, only)
    print("generated:", ", ".join(names))
    return 0


def cmd_release(args):
    """One nbgrader run over every assignment (or ``labNN-*`` for each --lab): faster than one per assignment."""
    course = _course(args)
    problem = gradebook_driver_problem(course)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    rc = 0
    for pattern in [f"{lab}-*" for lab in args.lab] if args.lab else ["*"]:
        names = [a for a in assignments(course) if fnmatch.fnmatch(a, pattern)]
        print(f"release {', '.join(names)}", flush=True)
        rc |= nbgrader(course, "generate_assignment", "--force", "--log-level=WARN",
                       f"--CourseDirectory.assignment_id={pattern}")
    return rc


def cmd_collect(args):
    """Copy learners' notebooks into submitted/; what is accepted and what is refused: ``collect.py``.
    Exit 1 when anything was refused or nothing was collected, 2 when FOLDER is not a folder or the roster is
    unusable."""
    from .collect import collect
    from .roster import RosterError, load
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    try:
        roster = load(args.roster) if args.roster else None
    except RosterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = collect(_course(args), folder, roster)
    print("\n".join(report.lines()))
    return report.exit_code


def gradebook_url(course) -> str:
    """The course's gradebook: ``CourseDirectory.db_url`` from its nbgrader_config.py (a server database when
    several machines grade), else nbgrader's default file."""
    from traitlets.config.loader import PyFileConfigLoader
    path = Path(course) / "nbgrader_config.py"
    url = ""
    if path.exists():
        url = PyFileConfigLoader(path.name, str(path.parent)).load_config().CourseDirectory.get("db_url", "")
    return url or f"sqlite:///{Path(course) / 'gradebook.db'}"


def gradebook_driver_problem(course) -> str:
    """Why the gradebook's database driver cannot be loaded, or "". Without this check a missing driver shows up
    only as nbgrader failing to process each assignment."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    url = gradebook_url(course)
    try:
        create_engine(url).dispose()     # loads the driver, connects to nothing
    except ImportError as exc:
        return (f"the gradebook ({make_url(url).drivername}://...) needs the Python module {exc.name}, which is not "
                'installed in this environment: pip install "gradcourse[grader]" (it brings psycopg, for '
                "postgresql+psycopg:// URLs)")
    except ArgumentError as exc:
        return f"CourseDirectory.db_url in nbgrader_config.py is not a database URL SQLAlchemy knows ({exc})"
    return ""


def _register_students(course, students):
    from nbgrader.api import Gradebook, InvalidEntry
    for attempt in (1, 2):
        try:
            with Gradebook(gradebook_url(course)) as gb:
                for s in students:
                    gb.update_or_create_student(s)
            return
        except InvalidEntry:
            # Shards starting at once on a fresh server gradebook each create nbgrader's course row; all but one
            # get InvalidEntry (a duplicate key), and find the row when they open the gradebook again.
            if attempt == 2:
                raise


def cmd_autograde(args):
    course = _course(args)
    from gradcourse.scoring import notgraded
    from gradcourse.scoring.autograde import course_secret, sandbox_ready
    from gradcourse.scoring.config import NotHardened, verify
    try:
        verify(course)
        shard = batch.parse_shard(args.shard) if args.shard else (0, 1)
        sandbox_ready(course)
        problem = gradebook_driver_problem(course)
        if problem:
            raise RuntimeError(problem)
    except (NotHardened, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    everyone = student_dirs(course)
    refused = refused_submissions(course)
    odd_ids = {student for student, assignment, _ in refused if not assignment}  # e.g. a comma would split
    mine = [s for s in everyone if batch.in_shard(s, shard) and s not in odd_ids   # nbgrader's exclude list
            and (not args.student or any(fnmatch.fnmatchcase(s, pat) for pat in args.student))]
    wanted = set(args.assignment or []) | set(args.assignments or [])
    todo = [a for a in assignments(course)
            if any((course / "submitted" / s / a).is_dir() for s in mine) and (not wanted or a in wanted)]
    for student, _, why in refused:
        if student in mine or student in odd_ids:  # links are "not graded" by the nbgrader step itself
            print(f"refused {why}", flush=True)
    _register_students(course, mine)    # so that a student whose only notebook is unreadable still gets a 0
    course_secret(course / nbgrader_course.SECRET_FILE)  # made once, before the processes that read it start
    pairs = [(s, a) for a in todo for s in mine if (course / "submitted" / s / a).is_dir()]
    groups = batch.split(mine, args.jobs)
    where = f"shard {shard[0]}/{shard[1]}: " if shard[1] > 1 else ""
    print(f"{where}{len(pairs)} submissions of {len(mine)} students, {min(args.jobs, len(groups))} grading processes "
          "at a time", flush=True)
    progress = batch.Progress(len(pairs))
    # One nbgrader process per share for all its assignments where one pattern names exactly them among the folders
    # nbgrader would look at.
    present = {p.name for s in mine for p in (course / "submitted" / s).iterdir() if p.is_dir()}
    pattern = batch.one_pattern(todo, present | set(assignments(course))) if todo else None
    started = time.time()
    # Shards may share the course folder and start in the same second: each writes its own log.
    log = batch.LogFile(course / "logs" / f"autograde-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")

    def run(exclude, on_line):
        only = [f"--CourseDirectory.student_id_exclude={exclude}"] if exclude else []
        on_line = log.tee(on_line)
        if pattern:   # one nbgrader process for all its assignments
            return nbgrader(course, "autograde", "--force", f"--CourseDirectory.assignment_id={pattern}", *only,
                            on_line=on_line, quiet=True)
        return max(nbgrader(course, "autograde", a, "--force", *only, on_line=on_line, quiet=True) for a in todo)

    if todo:
        batch.run_groups(run, everyone, groups, progress, args.jobs)
    # What counts as graded is what is on disk, not what the log said: a learner's text can reach the log.
    missing = {pair for pair in pairs if not _freshly_graded(course, *pair, since=started)}
    failed = _retry_failed(course, everyone, missing, log, started) if missing else set()
    print(f"autograded {len(pairs) - len(failed)} of {len(pairs)} submissions in "
          f"{time.time() - started:.1f} s; nbgrader's log: {log.path}")
    if failed:
        reasons = notgraded.listed(course)
        print(f"NOT GRADED: {len(failed)} submission(s); their previous grades, if any, are unchanged:")
        for student, assignment in sorted(failed):
            found = [line.removeprefix(f"{student} / {assignment}: ")   # the line below names the submission
                     for line in inspect_submission(course, student, assignment)]
            why = (reasons.get((student, assignment)) or "; ".join(found)
                   or f"nbgrader could not process it; see {log.path}")
            notgraded.record(course, student, assignment, why)  # so that summary and export say so too
            print(f"  {student} {assignment}: {why}")
        return 1
    return 0


def _freshly_graded(course, student, assignment, since: float) -> bool:
    """Every notebook of the released assignment is in autograded/, written by this run, and no grading step
    said otherwise (nbgrader removes what it failed on)."""
    names = [p.name for p in (course / "release" / assignment).glob("*.ipynb")]
    folder = course / "autograded" / student / assignment
    return bool(names) and all((folder / n).is_file() and (folder / n).stat().st_mtime >= since - 1 for n in names)


def _retry_failed(course, everyone, failed, log, started):
    """Grade once more what failed, alone (a sandbox that could not start, or a course cell that missed its time
    on a loaded machine, usually passes the second time); return what still failed. In this run the same misses
    are scored, so a learner who provokes them on purpose cannot stay ungraded."""
    from gradcourse.scoring.autograde import RETRY_ENV
    print(f"retrying {len(failed)} submission(s) that could not be graded", flush=True)
    progress = batch.Progress(len(failed))
    for assignment in sorted({a for _, a in failed}):
        students = {s for s, a in failed if a == assignment}
        exclude = ",".join(s for s in everyone if s not in students)
        only = [f"--CourseDirectory.student_id_exclude={exclude}"] if exclude else []
        on_line = batch.follow(progress)
        nbgrader(course, "autograde", assignment, "--force", *only, on_line=log.tee(on_line), quiet=True,
                 env={RETRY_ENV: "1"})
        on_line(None)
    return {pair for pair in failed if not _freshly_graded(course, *pair, since=started)}


def cmd_feedback(args):
    course = _course(args)
    graded = sorted({p.parent.name for p in (course / "autograded").glob("*/*/*.ipynb")})
    print(f"feedback {', '.join(graded)}", flush=True)
    return nbgrader(course, "generate_feedback", "--force", "--log-level=WARN", "--CourseDirectory.assignment_id=*")


def merged_scores(course):
    """{student: {lab: score}} and {lab: max_score}: the best language variant of each lab."""
    scores, maxima = defaultdict(dict), {}
    with open(course / "grades.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            lab = lab_of(row["assignment"])
            s = float(row["score"] or 0)
            scores[row["student_id"]][lab] = max(scores[row["student_id"]].get(lab, 0.0), s)
            maxima[lab] = float(row["max_score"])
    return scores, maxima


def cmd_export(args):
    course = _course(args)
    roster = None
    if getattr(args, "roster", None):       # read first: a roster that cannot be used stops before anything is written
        from .roster import RosterError, load
        try:
            roster = load(args.roster)
        except RosterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    rc = nbgrader(course, "export", "--to=grades.csv", "--log-level=WARN")
    if rc:
        return rc
    from gradcourse.scoring import notgraded
    scores, maxima = merged_scores(course)
    labs = sorted(maxima)
    pending = defaultdict(list)  # a score for these is the one from before the failed run (or 0 if none)
    for student, assignment in notgraded.listed(course):
        pending[student].append(assignment)
    out = course / "grades_by_lab.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["student_id", *labs, "total", "not_graded"])
        w.writerow(["max_score", *(f"{maxima[lab]:g}" for lab in labs), f"{sum(maxima.values()):g}", ""])
        for student in sorted(scores):
            # A lab whose last run gave no grade is left blank, not given its earlier score: a learner must not
            # keep a better grade by making a resubmission ungradable, and an LMS imports a blank as "no grade".
            blank = {lab_of(a) for a in pending[student]}
            row = [None if lab in blank else scores[student].get(lab, 0.0) for lab in labs]
            w.writerow([student, *("" if v is None else f"{v:g}" for v in row), f"{sum(v or 0 for v in row):g}",
                        " ".join(sorted(pending[student]))])
    print(f"wrote {out.relative_to(course.parent) if course.parent in out.parents else out}")
    if getattr(args, "lms", None):
        from . import lms_export
        from .collect import plural
        done = lms_export.write(out, args.lms, roster, course / f"grades_{args.lms}.csv")
        shown = done.path.relative_to(course.parent) if course.parent in done.path.parents else done.path
        print(f"wrote {shown}: {plural(done.students, 'student')}, {plural(len(done.labs), 'lab')}, for "
              f"{args.lms.capitalize()}'s gradebook import")
        for line in done.lines:
            print(line)


def check_table(course):
    """{(lab, grade_id): [passed, graded, max_points, kind]} from the gradebook, languages merged."""
    from nbgrader.api import Gradebook
    table = {}
    with Gradebook(gradebook_url(course)) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    if not any(g.auto_score is not None for g in nb.grades if g.cell_type == "code"):
                        continue            # recorded but never autograded (unreadable, wrong name): see problems
                    for g in nb.grades:
                        key = (lab_of(assignment.name), g.name)
                        row = table.setdefault(key, [0, 0, g.max_score, g.cell_type])
                        row[1] += 1
                        if g.cell_type == "markdown":      # written answers: count those still to grade
                            row[0] += bool(g.needs_manual_grade)
                        else:
                            row[0] += (g.score or 0) >= g.max_score
    return table


def cmd_summary(args):
    course = _course(args)
    lang = args.lang
    has_gradebook = (course / "gradebook.db").exists() or not gradebook_url(course).startswith("sqlite")
    table = check_table(course) if has_gradebook else {}
    head = tr(lang, "check", "comprobación"), tr(lang, "points", "puntos"), tr(lang, "passed", "aprobadas")
    print(f"{'lab':6} {head[0]:42} {head[1]:>6} {head[2]:>10}")
    for (lab, gid), (passed, graded, pts, kind) in sorted(table.items()):
        if kind == "markdown":
            shown = tr(lang, f"{passed} to grade by hand", f"{passed} por calificar a mano")
        else:
            shown = f"{passed}/{graded}"
        print(f"{lab:6} {gid:42} {pts:>6g} {shown:>10}")
    from gradcourse.scoring import notgraded
    problems = inspect_course(course, lang)
    problems += [tr(lang, f"{student} / {assignment}: NOT GRADED in the last autograde run ({why}); "
                          "its previous grade, if any, is unchanged.",
                    f"{student} / {assignment}: SIN CALIFICAR en la última ejecución de autograde ({why}); "
                    "su nota anterior, si la había, no cambia.")
                 for (student, assignment), why in notgraded.listed(course).items()]
    print()
    print(tr(lang, f"{len(problems)} problem(s) in submissions", f"{len(problems)} problema(s) en las entregas"))
    for p in problems:
        print(f"  {p}")


def cmd_report(args):
    from .report import write_report
    course = _course(args)
    for path in write_report(course, args.lang, gradebook_url(course)):
        print(f"wrote {path}")
    return 0


def build_parser():
    from ..authoring import labgen
    p = argparse.ArgumentParser(prog="python -m gradcourse.instructor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--course", default=str(labgen.REPO / labgen.COURSE), help="nbgrader course folder")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="regenerate the notebooks from grader/labsrc")
    g.add_argument("--lab", action="append", help="only this lab (repeatable), e.g. lab00")
    g.add_argument("--out", help="write into this folder instead of the repository (for comparisons)")
    g.add_argument("--if-stale", action="store_true",
                   help="only the labs whose source, checks or generator changed since they were generated")
    g.set_defaults(fn=cmd_generate)
    r = sub.add_parser("release", help="nbgrader generate_assignment for every assignment")
    r.add_argument("--lab", action="append")
    r.set_defaults(fn=cmd_release)
    c = sub.add_parser("collect", help="copy learners' notebooks into submitted/ (exit 1 if any file is refused)",
                       description="Copy into submitted/ what an LMS or nbgrader hands you: "
                                   "FOLDER/<student>/<assignment>/<notebook> or FOLDER/<student>/<notebook> "
                                   "(nbgrader), Moodle's <Full Name>_<lms_id>_assignsubmission_file_/ folders, "
                                   "Canvas's <lastfirst>_<lms_id>_<file id>_<name> files. Symbolic links, special and "
                                   "oversized files, unknown assignments and odd student ids are refused and listed; "
                                   "exit status 1 when anything was refused or nothing was collected.")
    c.add_argument("folder", help="the download, unzipped")
    c.add_argument("--roster", metavar="FILE",
                   help="CSV with columns student_id and lms_id: the student id for each number Moodle or Canvas "
                        "writes into its file names (without it, the number is the student id)")
    c.set_defaults(fn=cmd_collect)
    a = sub.add_parser("autograde", help="nbgrader autograde, with progress")
    a.add_argument("assignments", nargs="*", help="assignments to grade (default: every one with submissions)")
    a.add_argument("--assignment", action="append", help=argparse.SUPPRESS)  # older spelling, still accepted
    a.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="grading processes side by side (default: one per core)")
    a.add_argument("--shard", help="K/N: grade only the students whose id hashes to shard K of N (0 <= K < N)")
    a.add_argument("--student", action="append", metavar="ID",
                   help="grade only this student (repeatable; shell patterns such as 'x-*' allowed); nobody "
                        "else's grades are touched")
    a.set_defaults(fn=cmd_autograde)
    sub.add_parser("feedback", help="nbgrader generate_feedback").set_defaults(fn=cmd_feedback)
    e = sub.add_parser("export", help="grades.csv and grades_by_lab.csv (and an LMS's import file)")
    e.add_argument("--lms", choices=("canvas", "moodle"),
                   help="also write grades_canvas.csv or grades_moodle.csv, as that LMS's gradebook import reads it")
    e.add_argument("--roster", metavar="FILE",
                   help="CSV with columns student_id and lms_id (optional: name, email, sis_user_id, sis_login_id, "
                        "section): the LMS's ids of each student; with it, only the roster's students are written")
    e.set_defaults(fn=cmd_export)
    s = sub.add_parser("summary", help="per-check table and problem submissions")
    s.add_argument("--lang", choices=("en", "es"), default="en")
    s.set_defaults(fn=cmd_summary)
    rp = sub.add_parser("report", help="the class report (HTML with plots, and a CSV) from the last graded run")
    rp.add_argument("--lang", choices=("en", "es"), default="en")
    rp.set_defaults(fn=cmd_report)
    return p


def main(argv=None):
    """Every user error is one line on stderr and a non-zero exit: 2 for a wrong invocation, 1 for what failed."""
    # Before anything here imports jsonschema (through nbformat): 3 s of every command's start (course.py).
    nbgrader_course.skip_format_checkers()
    args = build_parser().parse_args(argv)
    config = _course(args) / nbgrader_course.CONFIG_FILE
    if args.fn is not cmd_generate and not config.is_file():
        print(f"error: {config.parent} is not an nbgrader course folder (it has no {config.name}); give the course "
              "folder with --course DIR", file=sys.stderr)
        return 2
    try:
        return args.fn(args) or 0
    except OSError as exc:   # a file or folder of the course that cannot be read or written
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
