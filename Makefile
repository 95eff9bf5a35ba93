# Two commands do everything on a fresh machine (each creates .venv on first use):
#   make test   - unit tests + every notebook run top to bottom (quick profile)
#   make book   - build the report site into _build/html (full profile unless AECORE_PROFILE is set)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WEIGHTS ?= _build/weights/aecore-weights.zip
# pytest-xdist processes for `make test`; each notebook's tests stay in one of them (--dist loadgroup).
# One more than the 2 cores of the CI machine: many tests wait on a kernel or a subprocess, and a third
# process fills those waits (on 2 quiet cores the suite took 328 s with 3, 343 s with 2).
TEST_WORKERS ?= 3

.PHONY: help install lint test book student grade weights clean-book lock check-bootstrap

help:
	@echo "make test   unit tests + every notebook run once (AECORE_PROFILE=quick by default), in TEST_WORKERS=$(TEST_WORKERS) processes"
	@echo "make lint   ruff (lint, import order) over the code and mypy over aecore (configured in pyproject.toml)"
	@echo "make book   build the report site into _build/html (AECORE_PROFILE=full by default)"
	@echo "make student the student edition (solutions taken out) in _build/student: notebooks/, a zip of them, package/"
	@echo "make grade SUBMISSIONS=<folder>  grade <folder>/<student>/<lab>.ipynb with nbgrader into $(GRADES): grades.csv, feedback/, answers/"
	@echo "make weights pack every cached model into $(WEIGHTS) (after make book), for AECORE_WEIGHTS"
	@echo "make lock   re-pin constraints.txt from the current .venv"
	@echo "make check-bootstrap   run a notebook as in Colab: fresh venv without aecore, its first cell installs it (minutes)"

# The environment is (re)built when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[book,test,lint,grading]"
	touch $(STAMP)

install: $(STAMP)

# Settings in pyproject.toml ([tool.ruff], [tool.mypy]). The notebooks are checked by running them (make test).
lint: $(STAMP)
	$(BIN)/ruff check aecore tests benchmarks tools book/_ext conftest.py
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: that means the paths are wrong, so say so and fail.
# AECORE_STRICT=1: a claim of the prose that a notebook does not reproduce fails the run.
# tests/book/test_student_edition.py runs every notebook once, for the checks of `pytest --nbval notebooks`
# (every cell runs without error) and the student edition's walk (stubs and checks run in the same kernel).
# --durations=20: the slowest tests, printed at the end, so that the cost of the suite stays in view.
test: $(STAMP)
	AECORE_STRICT=$${AECORE_STRICT:-1} AECORE_PROFILE=$${AECORE_PROFILE:-quick} $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=20 tests; \
	status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: check the tests/ and notebooks/ folders" >&2; exit 1; fi; \
	exit $$status

# Claims a run does not reproduce show as warnings on their pages and are listed by check_book;
# they fail the build only with AECORE_STRICT=1 (as in CI).
book: $(STAMP)
	AECORE_PROFILE=$${AECORE_PROFILE:-full} $(BIN)/jupyter-book build book --warningiserror --keep-going
	$(BIN)/python tools/check_book.py

# The student edition: the notebooks with their ### BEGIN/END SOLUTION regions replaced by stubs, and a zip;
# then the student package that their first cell installs (aecore without the solutions of the labs not
# named by aecore: released_solutions: in _config.yml), in _build/student/package: push it with the notebooks to the
# student branch (see README, For instructors).
student: $(STAMP)
	$(BIN)/python tools/make_student.py
	$(BIN)/python -c 'import sys; from aecore.book.student_package import main; sys.exit(main())'

# Grading: a throwaway nbgrader course in a temporary folder, every submission autograded in its own sandboxed
# process (aecore.grading; README, *For instructors*). SUBMISSIONS: <folder>/<student>/<lab>.ipynb.
GRADES ?= _build/grading
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "make grade: set SUBMISSIONS=<folder> (one folder per student: <folder>/<student>/<lab>.ipynb)" >&2; exit 2; }
	$(BIN)/python -m aecore.grading grade "$(SUBMISSIONS)" --out "$(GRADES)"

# The archive students point AECORE_WEIGHTS at: every model in the cache, with a manifest of
# SHA-256 sums (python -m aecore weights list shows what goes in).
weights: $(STAMP)
	mkdir -p $(dir $(WEIGHTS))
	$(BIN)/python -m aecore weights export $(WEIGHTS)

# The Colab path: a fresh venv without aecore runs a notebook whose first cell installs it from this
# checkout (minutes, and PyTorch downloads on the first run), so it is not part of `make test`.
check-bootstrap: $(STAMP)
	tools/check_bootstrap.sh

clean-book:
	rm -rf _build

lock: $(STAMP)
	{ echo "# Exact versions CI and 'make' install (pip install -c constraints.txt -e '.[book,test,lint,grading]')."; \
	  echo "# Regenerate after changing dependencies:  make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^aecore'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
