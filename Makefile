# Orgplane developer commands. `make run` starts the whole suite; `make test` checks everything.
# Tools are built once from the pinned modules in tools/ and cached in bin/ (gitignored).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
MODULES   := pkg deploy/devkit deploy/simulators services/org services/mapping services/integration-sync services/notification services/billing services/gateway deploy/devstack
PLUGINS   := protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
GENERATED := pkg/gen services/gateway/internal/openapi
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

.PHONY: tools
tools: $(BIN)/.buf.stamp $(BIN)/.protoc.stamp ## build buf and the protoc plugins into bin/

$(BIN)/devstack: FORCE
	@mkdir -p $(BIN)
	$(GO) build -o $@ ./deploy/devstack
FORCE:

# --- code generation -----------------------------------------------------------------------
.PHONY: generate
generate: tools ## regenerate Go, gateway and OpenAPI code from proto/
	rm -rf pkg/gen services/gateway/internal/openapi/*.json
	$(BIN)/buf generate
	$(GO) run ./services/gateway/internal/openapi/enrich services/gateway/internal/openapi/orgplane.swagger.json

.PHONY: proto-deps
proto-deps: ## refresh the vendored third-party .proto files
	third_party/refresh.sh

.PHONY: check
check: generate ## lint protos, check formatting, fail if generated code drifted from proto/
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^pkg/gen/')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  echo "generated code differs from proto/ (run make generate and commit):"; \
	  git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi

# --- build and test ------------------------------------------------------------------------
.PHONY: build
build: ## build every module on its own (GOWORK=off), as a Kubernetes image build would
	@for m in $(MODULES); do echo "build $$m"; (cd $$m && GOWORK=off $(GO) build ./...); done

.PHONY: vet
vet: ## go vet every module
	$(GO) vet $(PACKAGES)

.PHONY: test
test: check vet build $(BIN)/devstack ## everything CI checks: generation, lint, vet, build, tests with -race
	$(BIN)/devstack with-postgres -- $(GO) test -race -count=1 -timeout 20m $(PACKAGES)

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
run: $(BIN)/devstack ## start the whole suite locally (Ctrl-C stops it)
	exec $(BIN)/devstack

.PHONY: clean
clean: ## stop nothing, remove build outputs and the dev stack's state
	rm -rf $(BIN) .run
