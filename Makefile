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

# the suite on two pytest-xdist workers, a test module wholly on one (its module-scoped servers
# and browsers made once), then the tests marked `alone` (they time latencies, wait out short
# time limits or kill processes: tests/conftest.py) with nothing else running; both always run,
# and the status is the first failure's (5, no test collected, only when neither collected any)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not alone" $(PYTEST_ARGS); a=$$?; \
	$(BIN)/python -m pytest -m alone $(PYTEST_ARGS); b=$$?; \
	if [ $$a -eq 5 ] && [ $$b -ne 5 ]; then a=0; fi; if [ $$b -eq 5 ] && [ $$a -ne 5 ]; then b=0; fi; \
	exit $$(( a ? a : b ))

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
