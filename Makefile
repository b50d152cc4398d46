# The two commands of the README: `make demo` (set up, then run the whole pipeline on the
# generated demo dataset) and `make test` (set up, then run every check and test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
SOURCES := src tests workflow_scripts bench

.PHONY: demo test setup align demo-data lint format clean

demo: $(VENV)/.installed resources/demo/.complete
	$(BIN)/snakemake --profile profiles/local --cores $(CORES)

test: $(VENV)/.installed $(VENV)/.align-installed
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# The optional landmark aligner (dlib), which the tests exercise; `make demo` does without it
# (its configuration does not align), which keeps its set-up 20 s and 137 MB lighter.
$(VENV)/.align-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[align]'
	touch $@

align: $(VENV)/.align-installed

# The demo dataset is written once; `make demo-data` after a change of the demo: section in
# config.yaml writes it anew (and the pipeline then re-runs what depends on it).
resources/demo/.complete: | $(VENV)/.installed
	$(BIN)/auflow demo-data --config config.yaml
	touch $@

demo-data: $(VENV)/.installed
	rm -f resources/demo/.complete
	$(MAKE) resources/demo/.complete

format: $(VENV)/.installed
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/snakefmt Snakefile rules

clean:
	rm -rf results logs benchmarks .snakemake
