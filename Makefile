# nova-lxc-contrail: a thin front for build/ (python3 -m build.cli <command>).
#   make debs  [SERIES=bookworm|trixie|icehouse] [NOVA_SOURCE=PATH]   packages + signed local apt repo
#              [REPO_KEY=<gpg key id> [GNUPGHOME=DIR]]           (default: the project key in the cache)
#   make check [NOVA_SOURCE=PATH]                              every test that can run here

PYTHON3     ?= /usr/bin/python3
SERIES      ?= bookworm
NOVA_SOURCE ?=
export NOVA_SOURCE SERIES
CLI := $(PYTHON3) -m build.cli

.PHONY: check deps series rebase-check debs bench manifest clean

check:
	$(CLI) check

deps:
	$(CLI) deps

series:
	$(CLI) series

rebase-check:
	$(CLI) rebase-check

debs:
	$(CLI) debs --series $(SERIES)

bench:
	$(CLI) bench

manifest:
	$(CLI) manifest icehouse

clean:
	rm -rf .work dist
