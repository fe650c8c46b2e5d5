# GPU Market developer commands. Everything runs from the project's own virtualenv; the
# supervisor (devtools/supervisor.py) starts PostgreSQL and Redis unless DATABASE_URL /
# REDIS_URL are set, and localstripe unless STRIPE_API_BASE or a real Stripe key is set.
#
#   make run                                  dev server on http://127.0.0.1:8000 (+ Celery)
#   make serve                                the production setting (granian, DEBUG off) there
#   make test ARGS='tests/x.py -k y'          pytest, with ARGS passed through
#   make bench ARGS='...'                     python -m bench
#   make fuzz FUZZ_EXAMPLES=100               schemathesis over the whole API on a live server
#   make lint / make fmt                      ruff; lint also checks the layers (import-linter)
#   make shell                                manage.py shell against the dev database

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUPERVISOR := $(PY) -m devtools.supervisor
ARGS ?=

# The first interpreter that is Python 3.11 or newer; a fresh machine may only have python3.
PYTHON3 ?= $(shell for p in python3 python3.14 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)

.PHONY: install run serve test fuzz bench lint fmt shell browser-deps

install: $(STAMP)

# Re-installs whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON3)" || { echo "Python 3.11 or newer is needed (as python3)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

run: $(STAMP)
	$(SUPERVISOR) run

serve: $(STAMP)
	$(SUPERVISOR) serve

test: $(STAMP) browser-deps
	$(SUPERVISOR) test $(ARGS)

# The fuzz test of `make test` (tests/test_api_fuzz.py) with a larger budget: cases per
# operation and generation mode (valid, invalid), without the per-test time limit (100 take
# about a quarter of an hour on 2 CPUs). It prints operations, cases and statuses.
FUZZ_EXAMPLES ?= 100
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(SUPERVISOR) test tests/test_api_fuzz.py -s --timeout=0 $(ARGS)

bench: $(STAMP)
	$(SUPERVISOR) bench $(ARGS)

shell: $(STAMP)
	$(SUPERVISOR) exec -- $(PY) manage.py shell

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

fmt: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Browser tests drive Debian's chromium. Install it when we can (root with apt-get); never
# fail here: without it those tests skip and say why.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	      || echo "could not install chromium; browser tests will be skipped" >&2; \
	  else \
	    echo "chromium not found (install it as root: apt-get install chromium); browser tests will be skipped" >&2; \
	  fi; \
	}
