# Orgplane developer commands. `make run` starts the whole suite; `make test` checks everything.
# Tools are built once from the pinned modules in tools/ and cached in bin/ (gitignored).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
MODULES   := pkg deploy/devkit deploy/simulators services/org services/mapping services/integration-sync services/notification services/billing services/gateway deploy/devstack
PLUGINS   := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
GENERATED := pkg/gen services/gateway/internal/openapi deploy/devstack/oapiclient
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

.PHONY: test
test: check vet lint build $(BIN)/devstack ## everything CI checks: generation, lint, vet, build, tests with -race
	$(BIN)/devstack with-postgres -- $(GO) test -race -count=1 -timeout 40m $(PACKAGES)

.PHONY: test-short
test-short: $(BIN)/devstack ## tests only, skipping the slowest (no generation checks)
	$(BIN)/devstack with-postgres -- $(GO) test -short -count=1 $(PACKAGES)

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
