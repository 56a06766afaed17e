# feedd: the two commands a new user needs are `make run` and `make test`.
GO        ?= go
PKGS      ?= ./...
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.buildVersion=$(VERSION)
TEST_FLAGS ?= -race -timeout 8m

.PHONY: all build run run-default test lint fmtcheck vet fmt bench bench-go docs tidy clean

all: build

build: ## build bin/feedd, bin/feedctl and bin/devchain
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/feedd ./cmd/feedd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/feedctl ./cmd/feedctl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/devchain ./cmd/devchain

run: build ## a local dev chain with traffic in the background, the daemon on configs/devnet.yaml (Ctrl-C stops both)
	BIN=$(BIN) $(if $(CONFIG),CONFIG=$(CONFIG)) ./scripts/devnet.sh

run-default: build ## run the daemon on its embedded defaults, no chain (Ctrl-C stops it)
	./$(BIN)/feedd run $(if $(CONFIG),-c $(CONFIG))

# go vet's checks run inside go test (-vet=all): they reuse the race build
# instead of compiling every package a second time without -race.
test: fmtcheck ## every test, with the race detector, and every go vet check
	$(GO) test -vet=all $(TEST_FLAGS) $(PKGS)

lint: fmtcheck ## gofmt, go vet, generated docs up to date
	$(GO) vet $(PKGS)

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

bench: ## Go benchmarks, then the load scenarios against the real daemon (QUICK=1 for a short run)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)
	./scripts/loadbench.sh

bench-go: ## Go benchmarks only
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

docs: ## regenerate the README's configuration reference from the plugin specs
	$(GO) test ./cmd/feedd -run TestReadmeReference -count=1 -args -update

tidy:
	$(GO) mod tidy

clean:
	rm -rf $(BIN)
