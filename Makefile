# Two commands on a fresh clone:  `make demo` (train + evaluate + promote on the embedded model)  and  `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0   # first: the CPU wheel, so nothing pulls a CUDA build
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# WordNet for METEOR, offline: Debian's wordnet-base copied where nltk looks (<venv>/nltk_data).
WORDNET := $(VENV)/nltk_data/corpora/wordnet
WORDNET_FILES := adj.exc adv.exc noun.exc verb.exc data.adj data.adv data.noun data.verb \
                 index.adj index.adv index.noun index.verb index.sense

$(WORDNET)/lexnames: | $(VENV)/.installed
	test -f /usr/share/wordnet/index.sense || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index; }
	mkdir -p $(WORDNET)
	for f in $(WORDNET_FILES); do cp /usr/share/wordnet/$$f $(WORDNET)/; done
	zcat /usr/share/man/man5/lexnames.5WN.gz | awk -F'\t' '/^[0-9][0-9]\t/{gsub(/ /,"",$$2); split($$2,a,"."); \
	  c=(a[1]=="noun")?1:(a[1]=="verb")?2:(a[1]=="adj")?3:4; printf "%s\t%s\t%d\n",$$1,$$2,c}' > $@.tmp
	mv $@.tmp $@

# Headless Chromium for the rater-form test (Debian's packages).
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

# PostgreSQL for the team-stack test's MLflow server (Debian's; tests/team_servers.py starts it as `postgres`).
postgres:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends postgresql; }

# Docker and debootstrap for the container test (Debian's; tests/test_containers.py starts its own dockerd).
docker:
	command -v dockerd >/dev/null && command -v debootstrap >/dev/null || { apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends docker.io debootstrap; }

# crontab for `run.py schedule` (Debian's cron; entries install without the daemon running).
cron:
	command -v crontab >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends cron; }

setup: $(VENV)/.installed $(WORDNET)/lexnames

demo: setup
	$(PY) run.py run --config configs/demo.yaml $(ARGS)

test: setup browser cron postgres docker
	$(PY) -m pytest

.PHONY: setup browser cron postgres docker demo test
