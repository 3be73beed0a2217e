# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check-long lint bench demo-exposure clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the build's notes (an editable install's reminder) go to a log, shown only when it fails
	@$(BIN)/python -m pip install --quiet -e '.[dev]' 2>$(VENV)/install.log \
		|| { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/qabilet serve --demo-session

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the long runs behind docs/reliability.md: 200 races of an answer against each kind of a
# session's end, per back-end (PostgreSQL at $$QABILET_TEST_DATABASE_URL), about 40 minutes; the
# recalibration loop with 3,000 candidates over HTTP, about 25 minutes; and a whole attestation
# campaign of 200 employees over HTTP and in Chromium (docs/attestation.md)
check-long: $(STAMP)
	QABILET_RACE_TRIALS=$${QABILET_RACE_TRIALS:-200} $(BIN)/python -m pytest -s tests/api/test_session_races.py
	QABILET_LOOP_CANDIDATES=$${QABILET_LOOP_CANDIDATES:-3000} $(BIN)/python -m pytest -s tests/api/test_recalibration_loop.py
	QABILET_CAMPAIGN_EMPLOYEES=$${QABILET_CAMPAIGN_EMPLOYEES:-200} $(BIN)/python -m pytest -s tests/api/test_campaign_e2e.py

# the demonstration blueprints' exposure parameters, derived thoroughly and shipped
# (qabilet/demo_exposure.py); run after changing the demonstration content or design (3 minutes)
demo-exposure: $(STAMP)
	$(BIN)/python -m qabilet.demo_exposure

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
