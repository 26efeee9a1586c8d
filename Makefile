# Two commands on a fresh machine: `make book` and `make test`. Everything else is installed from here.
VENV   := .venv
PY     := $(VENV)/bin/python
# nbgrader shells out to alembic, which lives in the venv's bin/.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup book test serve check labs bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

book: setup
	$(PY) -m gradcourse.book build

test: setup
	$(PY) -m pytest

serve:
	$(PY) -m gradcourse.book serve

check: setup
	$(PY) -m gradcourse.book check

labs: setup
	$(PY) -m gradcourse.grading generate

# Measurements, not tests (bench/*.py): book and grading print the stock tool's figure beside ours; labs and pages
# print each figure beside its target.
bench: setup
	$(PY) bench/book.py --repeat 3
	$(PY) bench/grading.py --students 200
	$(PY) bench/labs.py --repeat 3
	$(PY) bench/pages.py --repeat 3

clean:
	rm -rf _build
