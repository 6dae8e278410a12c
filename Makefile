# Orgplane developer commands. `make run` starts the whole suite; `make test` checks everything.
# Tools are built once from the pinned modules in tools/ and cached in bin/ (gitignored).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
MODULES   := pkg deploy/devkit deploy/simulators services/org services/mapping services/integration-sync services/notification services/billing services/gateway deploy/devstack deploy/images deploy/helm
PLUGINS   := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
GENERATED := pkg/gen services/gateway/internal/openapi deploy/devstack/oapiclient services/gateway/ui/src/api/schema.d.ts
# The build stamped into every binary (pkg/version; `<binary> --version`, build_info, GET /version).
# VERSION is the release tag (v0.1.0 -> 0.1.0) or 0.0.0-dev; override any of them: make build VERSION=1.2.3.
VERSION    ?= $(or $(patsubst v%,%,$(shell git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null)),0.0.0-dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED   ?= $(if $(shell git status --porcelain --untracked-files=no 2>/dev/null),true,false)
BUILD_TIME ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_PKG := github.com/orgplane/orgplane/pkg/version
LDFLAGS    := -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).revision=$(REVISION) \
              -X $(VERSION_PKG).modified=$(MODIFIED) -X $(VERSION_PKG).buildTime=$(BUILD_TIME)
# The service binaries `make binaries` builds into bin/, by their cmd folders.
COMMANDS   := services/org/cmd/org services/mapping/cmd/mapping services/integration-sync/cmd/integration-sync \
              services/notification/cmd/notification services/billing/cmd/billing services/gateway/cmd/gateway \
              deploy/devstack/cmd/orgplane-events
# Packages of every workspace module, for one go vet / go test run.
PACKAGES   = $(shell $(GO) list -m -f '{{.Dir}}/...')

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# --- tools ---------------------------------------------------------------------------------
# A stamp per tools go.mod: changing a pinned version rebuilds, nothing else does.
$(BIN)/.buf.stamp: tools/buf/go.mod tools/buf/go.sum
	@mkdir -p $(BIN)
	cd tools/buf && GOWORK=off $(GO) build -o $(BIN)/buf github.com/bufbuild/buf/cmd/buf
	@touch $@

$(BIN)/.protoc.stamp: tools/protoc/go.mod tools/protoc/go.sum
	@mkdir -p $(BIN)
	cd tools/protoc && export GOWORK=off && for p in google.golang.org/protobuf/cmd/protoc-gen-go \
	  google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
	  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2; do $(GO) build -o $(BIN)/ $$p; done
	@touch $@

# oapi-codegen and the OpenAPI 2 -> 3 converter (kin-openapi), pinned apart from the services.
$(BIN)/.oapi.stamp: tools/oapi/go.mod tools/oapi/go.sum $(wildcard tools/oapi/*/*.go)
	@mkdir -p $(BIN)
	cd tools/oapi && GOWORK=off $(GO) build -o $(BIN)/ github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen ./openapi3
	@touch $@

.PHONY: tools
tools: $(BIN)/.buf.stamp $(BIN)/.protoc.stamp ## build buf and the protoc plugins into bin/

$(BIN)/.staticcheck.stamp: tools/staticcheck/go.mod tools/staticcheck/go.sum
	@mkdir -p $(BIN)
	cd tools/staticcheck && GOWORK=off $(GO) build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck
	@touch $@

$(BIN)/devstack: FORCE
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./deploy/devstack
FORCE:

# --- code generation -----------------------------------------------------------------------
.PHONY: generate
generate: tools $(BIN)/.oapi.stamp ## regenerate Go, gateway and OpenAPI code from proto/, and the OpenAPI 3 client
	rm -rf pkg/gen services/gateway/internal/openapi/*.json
	$(BIN)/buf generate
	$(GO) run ./services/gateway/internal/openapi/enrich services/gateway/internal/openapi/orgplane.swagger.json
	$(BIN)/openapi3 services/gateway/internal/openapi/orgplane.swagger.json services/gateway/internal/openapi/orgplane.openapi3.json
	$(BIN)/oapi-codegen -config deploy/devstack/oapiclient/oapi-codegen.yaml services/gateway/internal/openapi/orgplane.openapi3.json
	@# The web UI's API types come from the same document. Without node they stay as they are, and
	@# make ui-check (part of make test) fails if that leaves them stale.
	@if command -v npm >/dev/null; then cd $(UI_DIR) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent gen:api; \
	  else echo "npm not found: $(UI_DIR)/src/api/schema.d.ts not regenerated (install node >= 20.19)"; fi

# The API as last released: buf breaking compares proto/ with it, so an incompatible change
# (a removed or renumbered field, a changed type, a moved RPC) cannot land by accident. Cutting a
# release adds its image: make release-protos RELEASE=0.2.0.
RELEASED := $(lastword $(sort $(wildcard proto/releases/v*.binpb)))

.PHONY: breaking
breaking: tools ## fail if proto/ breaks compatibility with the last released API (proto/releases)
	$(BIN)/buf breaking proto --against $(RELEASED)
	@# The check itself is checked: a copy of proto/ that renumbers one field still builds and
	@# must be refused.
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; cp -r buf.yaml proto third_party $$tmp/; \
	  sed -i 's/^  string display_name = 2 \[/  string display_name = 99 [/' $$tmp/proto/orgplane/org/v1/account.proto; \
	  (cd $$tmp && $(BIN)/buf build proto -o /dev/null) || { echo "the renumbered copy does not build"; exit 1; }; \
	  if (cd $$tmp && $(BIN)/buf breaking proto --against $(CURDIR)/$(RELEASED) >/dev/null 2>&1); then \
	    echo "buf breaking accepted a renumbered field: the check is broken"; exit 1; fi

.PHONY: release-protos
release-protos: tools ## record the API of release RELEASE (e.g. 0.2.0) as the baseline for buf breaking
	@test -n "$(RELEASE)" || { echo "RELEASE=x.y.z is required"; exit 1; }
	$(BIN)/buf build proto --exclude-source-info -o proto/releases/v$(RELEASE).binpb

.PHONY: proto-deps
proto-deps: ## refresh the vendored third-party .proto files
	third_party/refresh.sh

.PHONY: check
check: generate ## lint protos, check formatting, fail if generated code drifted from proto/
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^pkg/gen/')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(MAKE) --no-print-directory breaking
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  echo "generated code differs from proto/ (run make generate and commit):"; \
	  git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi

# --- build and test ------------------------------------------------------------------------
.PHONY: build
build: ## build every module on its own (GOWORK=off), as a Kubernetes image build would
	@for m in $(MODULES); do echo "build $$m"; (cd $$m && GOWORK=off $(GO) build -ldflags '$(LDFLAGS)' ./...); done

.PHONY: binaries
binaries: ## build the service and gateway binaries into bin/, stamped with VERSION and the git revision
	@mkdir -p $(BIN)
	@for c in $(COMMANDS); do echo "build $$c"; (cd $${c%%/cmd/*} && GOWORK=off $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/$${c##*/}); done

.PHONY: vet
vet: ## go vet every module
	$(GO) vet $(PACKAGES)

.PHONY: lint
lint: $(BIN)/.staticcheck.stamp ## staticcheck every module (settings in staticcheck.conf files)
	$(BIN)/staticcheck $(PACKAGES)

# --- web UI --------------------------------------------------------------------------------
# services/gateway/ui: TypeScript sources, the pinned npm packages (package-lock.json) and the
# build in dist/, committed and embedded by the gateway so that building it needs Go alone.
.PHONY: ui
ui: ## build the web UI into services/gateway/ui/dist (commit it): npm ci, API types, vite build
	@command -v npm >/dev/null || { echo "make ui needs node >= 20.19 and npm"; exit 1; }
	cd $(UI_DIR) && npm ci --no-audit --no-fund && npm run gen:api && npm run build

.PHONY: ui-check
ui-check: ## fail if the web UI's committed API types or build are stale; type-check and unit-test it
	@command -v npm >/dev/null || { echo "make ui-check needs node >= 20.19 and npm"; exit 1; }
	cd $(UI_DIR) && npm ci --no-audit --no-fund
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cd $(UI_DIR); \
	  npx openapi-typescript ../internal/openapi/orgplane.openapi3.json --output "$$tmp/schema.d.ts" >/dev/null 2>&1; \
	  if ! cmp -s "$$tmp/schema.d.ts" src/api/schema.d.ts; then \
	    echo "$(UI_DIR)/src/api/schema.d.ts differs from the API document (run make ui and commit it)"; exit 1; fi; \
	  npx tsc --noEmit; \
	  npx vitest run; \
	  npx vite build --outDir "$$tmp/dist" --emptyOutDir --logLevel warn; \
	  if ! diff -r "$$tmp/dist" dist >/dev/null; then \
	    echo "$(UI_DIR)/dist differs from a build of the sources (run make ui and commit it):"; \
	    diff -rq "$$tmp/dist" dist || true; exit 1; fi; \
	  echo "web UI: API types, type check, unit tests and the committed build are current"

.PHONY: test
test: check vet lint build ui-check $(BIN)/devstack browser-deps helm-lint ## everything CI checks: generation, lint, vet, build, web UI, tests with -race (browser tests included)
	$(BIN)/devstack with-postgres -- $(GO) test -race -count=1 -timeout 40m $(PACKAGES)

.PHONY: test-short
test-short: $(BIN)/devstack browser-deps ## tests only, skipping the slowest (no generation checks)
	$(BIN)/devstack with-postgres -- $(GO) test -short -count=1 $(PACKAGES)

# --- browser tests -------------------------------------------------------------------------
# deploy/devstack/browser drives Debian's chromium (headless) against the suite and checks every
# page with axe-core, a pinned devDependency of the web UI. Both are fetched here when missing;
# the Go tests fail, naming what to install, when they are not there.
UI_DIR := services/gateway/ui
AXE_JS := $(UI_DIR)/node_modules/axe-core/axe.min.js

.PHONY: chromium
chromium: ## install Debian's chromium for the browser tests when it is missing (as root, with apt-get)
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then exit 0; fi; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "install Debian's chromium package (apt-get install chromium) to run the browser tests"; exit 1; \
	  fi

$(AXE_JS): $(UI_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "install Node.js and npm (apt-get install nodejs npm): the browser tests take axe-core from the web UI's packages"; exit 1; }
	cd $(UI_DIR) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: browser-deps
browser-deps: chromium $(AXE_JS) ## Chromium and axe-core for the browser tests

# The screenshots the README shows: every docs/screenshots/NAME.png it names is the browser
# tests' step NAME (a Page.Step or Page.Shot), copied from a fresh run.
.PHONY: screenshots
screenshots: $(BIN)/devstack browser-deps ## run the browser tests and refresh the screenshots README.md shows (docs/screenshots/)
	@names=$$(grep -o 'docs/screenshots/[A-Za-z0-9_.-]*\.png' README.md | sort -u); \
	  if [ -z "$$names" ]; then echo "README.md shows no docs/screenshots/*.png"; exit 1; fi; \
	  out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	  ORGPLANE_SCREENSHOTS=$$out $(BIN)/devstack with-postgres -- $(GO) test -count=1 ./deploy/devstack/browser/...; \
	  mkdir -p docs/screenshots; \
	  for f in $$names; do \
	    b=$${f##*/}; set -- "$$out"/*/[0-9][0-9]-"$$b"; \
	    if [ $$# -ne 1 ] || [ ! -f "$$1" ]; then echo "$$f: want exactly one test step named $${b%.png}, found: $$*"; exit 1; fi; \
	    cp "$$1" "$$f"; echo "$$f"; \
	  done

# --- images --------------------------------------------------------------------------------
# One OCI image per service and the gateway, assembled by deploy/images without Docker (its
# README says how to load or push them; its Dockerfile builds the same with Docker). The images'
# times, and the build time the binaries report, are the last commit's rather than the clock's,
# so one commit always gives the same digests; IMAGE_TIME=2025-01-02T03:04:05Z sets another.
IMAGE_TIME    ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
IMAGE_LDFLAGS  = $(patsubst $(VERSION_PKG).buildTime=%,$(VERSION_PKG).buildTime=$(IMAGE_TIME),$(LDFLAGS))

.PHONY: images
images: ## build an OCI image per service and the gateway into .run/images (an OCI layout and docker-loadable tarballs), no Docker needed
	$(GO) run ./deploy/images/cmd/images -out .run/images -version '$(VERSION)' -revision '$(REVISION)' -created '$(IMAGE_TIME)' -ldflags '$(IMAGE_LDFLAGS)'

# --- kubernetes ----------------------------------------------------------------------------
# deploy/helm/orgplane is the Helm chart. deploy/helm's Go tests render it with the Helm SDK and
# check every manifest (they run with the other modules' tests); helm-lint runs Helm's own linter.
# helm is built from tools/helm, pinned apart from the services, with the linker flags of Helm's
# release builds: its version, and the Kubernetes version of its client libraries (without them
# helm assumes 1.20, which the chart's kubeVersion refuses).
HELM_VERSION   = $(shell sed -n 's|^[[:space:]]*helm.sh/helm/v3 \(v[0-9.]*\).*|\1|p' tools/helm/go.mod)
HELM_K8S_MINOR = $(shell sed -n 's|^[[:space:]]*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' tools/helm/go.mod)
HELM_LDFLAGS   = -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
                 $(foreach p,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/$(p).k8sVersionMinor=$(HELM_K8S_MINOR))
CHART          := deploy/helm/orgplane

$(BIN)/.helm.stamp: tools/helm/go.mod tools/helm/go.sum
	@mkdir -p $(BIN)
	cd tools/helm && GOWORK=off $(GO) build -ldflags '$(HELM_LDFLAGS)' -o $(BIN)/helm helm.sh/helm/v3/cmd/helm
	@touch $@

.PHONY: helm-lint
helm-lint: $(BIN)/.helm.stamp ## helm lint --strict the chart with its default values and with each examples/values-*.yaml
	$(BIN)/helm lint --strict $(CHART)
	@for f in $(CHART)/examples/values-*.yaml; do \
	  echo "helm lint --strict $(CHART) -f $$f"; $(BIN)/helm lint --strict --quiet $(CHART) -f "$$f"; done

# --- benchmarks ----------------------------------------------------------------------------
.PHONY: bench
bench: ## measure Orgplane against raw Postgres and JetStream; writes docs/benchmarks-latest.md and .json
	$(GO) run ./deploy/devstack/bench -out docs

.PHONY: bench-smoke
bench-smoke: ## every benchmark scenario for a few seconds (CI proves the harness works)
	$(GO) run ./deploy/devstack/bench -smoke -out .run/bench-smoke

# --- run -----------------------------------------------------------------------------------
.PHONY: run
run: $(BIN)/devstack ## start the whole suite locally (Ctrl-C stops it); flags in ARGS="-gateway-port 8081", list: ARGS=-help
	exec $(BIN)/devstack $(ARGS)

.PHONY: clean
clean: ## stop nothing, remove build outputs and the dev stack's state
	rm -rf $(BIN) .run
