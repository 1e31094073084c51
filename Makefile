# connect-operator developer entry points. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
TOOLS_BIN := $(CURDIR)/.tools/bin
# kustomize comes from the Go module proxy at a pinned version (Debian's kubectl is too old).
KUSTOMIZE_VERSION ?= v5.7.1
KUSTOMIZE := $(TOOLS_BIN)/kustomize
export PATH := $(VENV)/bin:$(TOOLS_BIN):$(PATH)
export KUSTOMIZE

# The real runtime for tests/e2e, each built from the Go module proxy through a wrapper module in
# tests/e2e/go/<component>/ and cached under .tools/<component>-<version>/: a binary that exists is
# never rebuilt, so a warm machine builds nothing; bump the version (and the wrapper's go.mod) to
# change one. shell-operator is pinned to the same version as docker/operator/Dockerfile.
ETCD_VERSION := v3.6.16
KUBERNETES_VERSION := v1.34.4
SHELL_OPERATOR_VERSION := v1.20.2
E2E_GO := $(CURDIR)/tests/e2e/go
ETCD := $(CURDIR)/.tools/etcd-$(ETCD_VERSION)/etcd
KUBE_APISERVER := $(CURDIR)/.tools/kubernetes-$(KUBERNETES_VERSION)/kube-apiserver
KUBECTL := $(CURDIR)/.tools/kubernetes-$(KUBERNETES_VERSION)/kubectl
SHELL_OPERATOR := $(CURDIR)/.tools/shell-operator-$(SHELL_OPERATOR_VERSION)/shell-operator
export ETCD KUBE_APISERVER KUBECTL SHELL_OPERATOR
# Builds are niced: the machines that run them are shared. The module-sdk checksum is not served.
GO_BUILD := nice -n 10 env CGO_ENABLED=0 GOFLAGS=-mod=readonly GONOSUMDB=github.com/deckhouse/module-sdk go build -trimpath
KUBE_LDFLAGS := -s -w $(foreach v,gitVersion=$(KUBERNETES_VERSION) gitMajor=1 gitMinor=34 gitTreeState=clean buildDate=1970-01-01T00:00:00Z,\
	-X k8s.io/component-base/version.$(v) -X k8s.io/client-go/pkg/version.$(v))
CLUSTER := $(PY) -m tests.kafka.cluster

.PHONY: help install tools jars e2e-tools test test-unit test-deploy test-integration test-e2e lint mutation \
        connect-up connect-down connect-status demo plan bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed ## create .venv and install the package with test and lint tools

$(KUSTOMIZE):
	@command -v go >/dev/null || { echo "Go is needed to install kustomize $(KUSTOMIZE_VERSION)"; exit 1; }
	GOBIN=$(TOOLS_BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

tools: install $(KUSTOMIZE) ## install pinned kustomize (hadolint and kubernetes-validate come with install)

$(ETCD):
	@command -v go >/dev/null || { echo "Go is needed to build etcd $(ETCD_VERSION)"; exit 1; }
	mkdir -p $(@D)
	cd $(E2E_GO)/etcd && $(GO_BUILD) -ldflags '-s -w' -o $@.partial .
	mv $@.partial $@

$(KUBE_APISERVER) $(KUBECTL) &:
	@command -v go >/dev/null || { echo "Go is needed to build Kubernetes $(KUBERNETES_VERSION)"; exit 1; }
	mkdir -p $(dir $(KUBE_APISERVER))
	cd $(E2E_GO)/kubernetes && $(GO_BUILD) -tags selinux,notest -ldflags '$(KUBE_LDFLAGS)' \
		-o $(KUBE_APISERVER).partial k8s.io/kubernetes/cmd/kube-apiserver
	cd $(E2E_GO)/kubernetes && $(GO_BUILD) -tags selinux,notest -ldflags '$(KUBE_LDFLAGS)' \
		-o $(KUBECTL).partial k8s.io/kubernetes/cmd/kubectl
	mv $(KUBE_APISERVER).partial $(KUBE_APISERVER)
	mv $(KUBECTL).partial $(KUBECTL)

$(SHELL_OPERATOR):
	@command -v go >/dev/null || { echo "Go is needed to build shell-operator $(SHELL_OPERATOR_VERSION)"; exit 1; }
	mkdir -p $(@D)
	cd $(E2E_GO)/shell-operator && $(GO_BUILD) \
		-ldflags '-s -w -X github.com/flant/shell-operator/pkg/app.Version=$(SHELL_OPERATOR_VERSION)' \
		-o $@.partial github.com/flant/shell-operator/cmd/shell-operator
	mv $@.partial $@

e2e-tools: $(ETCD) $(KUBE_APISERVER) $(KUBECTL) $(SHELL_OPERATOR) ## build etcd, kube-apiserver, kubectl and shell-operator (cold: ~20 min)

jars: install ## resolve the Kafka jars from Maven Central into .kafka/lib (Java 17 + Maven if missing)
	bash tests/kafka/install-java-maven.sh
	$(CLUSTER) jars

connect-up: jars ## start a KRaft broker and two Connect workers in the background
	$(CLUSTER) up

connect-down: install ## stop the local cluster and every process it started
	$(CLUSTER) down

connect-status: install ## show whether the local cluster is up
	$(CLUSTER) status

# -n auto (pytest-xdist): one worker per CPU. The suite is CPU-bound (each hook run forks its
# template renderer), so on 2 cores two workers cut its wall time (see the README); the tests
# share no port, file or global state.
test-unit: install ## fast tests: no Kafka, no network, no real sleeps (tests marked slow excluded)
	# Bytecode caching on: without it every worker re-compiles and re-rewrites every test module.
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest tests/unit -m "not slow" -n auto

test-deploy: tools ## Dockerfiles (hadolint) and manifests (kustomize + strict schema validation)
	$(PY) -m pytest tests/deploy

test-integration: jars ## the hook against a real KRaft broker and two Connect workers
	$(PY) -m pytest tests/integration

test-e2e: tools jars e2e-tools ## the hook in the real shell-operator, on a real API server and Connect
	$(PY) -m pytest tests/e2e

test: tools jars e2e-tools ## every test: unit, deploy, integration and end-to-end
	$(PY) -m pytest tests

# MODULES=plan ledger ... limits the run; CHANGED_SINCE=main runs the modules a branch changed;
# FAIL_UNDER=90 fails when a module scores below 90%.
mutation: install ## mutmut over the promise-carrying modules, each against its fast tests
	$(PY) -m pip install -q -e '.[mutation]'
	$(PY) -m tests.mutation $(if $(CHANGED_SINCE),--changed-since $(CHANGED_SINCE)) \
		$(if $(FAIL_UNDER),--fail-under $(FAIL_UNDER)) $(MODULES)

lint: install ## ruff and mypy (strict) over the package, the tests and bench
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

demo: connect-up ## run the operator's hook on the example ConfigMaps against the local cluster
	$(PY) -m tests.kafka.demo

plan: connect-up ## connect-operator plan of k8s/examples/connectors against the local cluster (PLAN_ARGS=...)
	CONNECT_URL=$$($(CLUSTER) up 2>/dev/null | sed -n 's/^CONNECT_URL=//p') \
	CONNECT_OPERATOR_CONFIG_DIR=k8s/examples/variables CONNECT_OPERATOR_TEMPLATE_ENV=CONNECTOR_OWNER \
	CONNECTOR_OWNER=$${CONNECTOR_OWNER:-connect-operator-demo} \
	$(VENV)/bin/connect-operator plan -f k8s/examples/connectors \
	  $(if $(wildcard .demo/ledger.yaml),--ledger .demo/ledger.yaml) $(PLAN_ARGS)

bench: install ## scaling figures: the hook process and an in-process reconcile, against a fake Connect
	$(PY) -m bench.hook_scale --sizes 100,1000,10000
	$(PY) -m bench.reconcile_scale --sizes 10,100,1000,3000
	$(PY) -m bench.ledger_scale --sizes 5000,20000,50000

clean: connect-down
	rm -rf .demo build dist *.egg-info
