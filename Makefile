# Two commands on a fresh machine: `make book` and `make test`. Everything else is installed from here (`make test`
# also installs the Debian packages its tests need when run as root: tools/system-deps).
VENV   := .venv
PY     := $(VENV)/bin/python
# nbgrader shells out to alembic, which lives in the venv's bin/.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup system-deps book test serve check labs dist bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e ".[learner,grader]"
	# An editable install skips the wheel's data files: the JupyterLab save hook (widgets survive a reopen) by hand.
	mkdir -p $(VENV)/etc/jupyter/jupyter_server_config.d
	cp jupyter-config/jupyter_server_config.d/gradcourse.json $(VENV)/etc/jupyter/jupyter_server_config.d/
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "Node.js with npm is needed (Debian: apt-get install nodejs npm)." >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# bubblewrap, chromium and PostgreSQL for the tests: installed with apt-get as root, else named before any test runs.
system-deps:
	@tools/system-deps

# A lab page is generated from grader/labsrc: regenerate the labs whose source changed, so the book never shows a
# stale one.
book: setup
	$(PY) -m gradcourse.instructor generate --if-stale
	$(PY) -m gradcourse.book build

test: system-deps setup
	$(PY) -m pytest

serve:
	$(PY) -m gradcourse.book serve

check: setup
	$(PY) -m gradcourse.book check

labs: setup
	$(PY) -m gradcourse.instructor generate

# The course package as learners and instructors install it: dist/gradcourse-<version>-py3-none-any.whl and its
# sdist (the wheel is built from the sdist). `pip install "gradcourse[learner]" --find-links dist`.
dist: $(VENV)/.installed
	rm -rf dist
	$(PY) -m build --outdir dist .

# Measurements, not tests (bench/*.py): book and grading print the stock tool's figure beside ours; labs and pages
# print each figure beside its target.
bench: setup
	$(PY) bench/book.py --repeat 3
	$(PY) bench/grading.py --students 200
	$(PY) bench/labs.py --repeat 3
	$(PY) bench/pages.py --repeat 3

clean:
	rm -rf _build dist
