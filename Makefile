# ducha — two commands: `make demo` (set up, run the main job on sample data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DIR := data/demo
DEMO_DB := $(DEMO_DIR)/ducha.duckdb
DEMO_INBOX := $(DEMO_DIR)/inbox
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install demo test lint lock bench clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Byte-compile ducha's own modules (a no-op when current): an editable install is not
# compiled by pip, and where PYTHONDONTWRITEBYTECODE is set every run would compile them again.
install: $(STAMP)
	$(BIN)/python -m compileall -q ducha flows

demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/ducha --db $(DEMO_DB) units show | tail -n 4
	$(BIN)/ducha --db $(DEMO_DB) targets import data/samples/wujin-2026-target-decomposition-table.txt --year 2026
	$(BIN)/ducha --db $(DEMO_DB) targets confirm config/reviews/targets-2026.yaml
	$(BIN)/ducha --db $(DEMO_DB) targets show --year 2026 --task 2026-005 --task 2026-007 --task 2026-061 --task 2026-075
	$(BIN)/python -m demo.make_sample_submissions --db $(DEMO_DB) --inbox $(DEMO_INBOX) --months 2026-01 2026-02 2026-03 --leave-last
	$(BIN)/ducha --db $(DEMO_DB) ingest $(DEMO_INBOX)/2026-03 --received-at 2026-04-03T10:00
	$(BIN)/ducha --db $(DEMO_DB) evaluate --period 2026-03
	$(BIN)/ducha --db $(DEMO_DB) report --period 2026-03
	$(BIN)/ducha --db $(DEMO_DB) notify --period 2026-03 --as-of 2026-04-09
	@echo "完整目标任务库：$(BIN)/ducha --db $(DEMO_DB) targets show --year 2026"

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Re-resolve the lock file (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/notify.py
	$(BIN)/python bench/e2e.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(DEMO_DIR)
