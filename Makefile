# The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
SERVICES := otp-service checkout-service magento-bridge

.PHONY: all build demo test test-go vet deps bench clean

all: build

## build: the three service binaries into bin/
build:
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./,$(SERVICES))

## demo: the whole platform on this machine (embedded MySQL and Redis unless MYSQL_DSN / REDIS_ADDR are set)
demo: build
	$(GO) run ./demo

## deps: install and start what the tests need (MariaDB, Redis, nginx, ansible, Chromium)
deps:
	bash .ci/ensure-deps.sh

## test: vet and run every test against real MariaDB, Redis, nginx, ansible and Chromium
test: deps vet test-go

vet:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...

## bench: the benchmarks whose figures the README reports
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3s ./...

clean:
	rm -rf bin
