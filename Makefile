# wxcard: make help lists the targets.
GO            ?= go
# The toolchain every target builds, tests and releases with: go.mod's
# toolchain line (a patched Go; the machines' own may be older). The go
# command fetches it from the module proxy the first time.
GO_TOOLCHAIN  := $(shell awk '$$1 == "toolchain" {print $$2}' go.mod)
export GOTOOLCHAIN := $(GO_TOOLCHAIN)
# Lambda runs the functions on arm64 (template.yaml: Architectures).
LAMBDA_GOARCH ?= arm64
FUNCTIONS     := cardevents pretoken partnertoken permissiontoken authorities authoritiesschedule authoritiesrefresh members memberapi session sessionkeys
GOBUILD       := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w"
GOLANGCI_LINT_VERSION := v2.15.0
GREMLINS_VERSION      := v0.6.0
GOVULNCHECK_VERSION   := v1.9.0
# The vulnerability database: golang.org/x/vulndb's OSV entries at this
# version, from the module proxy (vuln.go.dev may be unreachable), built
# once into $(VULNDB_DIR) by cmd/wxcard-vulndb. docs/developing.md says
# how to move it.
VULNDB_VERSION        := v0.0.0-20261105234957-e22db6528018
VULNDB_DIR            := .cache/vulndb/$(VULNDB_VERSION)

.DEFAULT_GOAL := help
.PHONY: help build test lint bench bench-smoke vuln vulndb mutate run validate clean \
	build-PreTokenFunction build-PartnerTokenFunction build-PermissionTokenFunction \
	build-AuthoritiesFunction build-AuthoritiesScheduleFunction build-AuthoritiesRefreshFunction build-CardEventsFunction \
	build-BrandCardEventsFunction build-MembersFunction build-MemberApiFunction build-SessionFunction build-SessionKeysFunction

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-34s %s\n", $$1, $$2}' $(MAKEFILE_LIST) | \
		sed -e 's|$$(LAMBDA_GOARCH)|$(LAMBDA_GOARCH)|g' -e 's|$$(RUN_ADDR)|$(RUN_ADDR)|g' -e 's|$$(ARTIFACTS_DIR)|$$ARTIFACTS_DIR|g' \
			-e 's|$$(GOLANGCI_LINT_VERSION)|$(GOLANGCI_LINT_VERSION)|g' -e 's|$$(GREMLINS_VERSION)|$(GREMLINS_VERSION)|g' \
			-e 's|$$(GOVULNCHECK_VERSION)|$(GOVULNCHECK_VERSION)|g' -e 's|$$(VULNDB_VERSION)|$(VULNDB_VERSION)|g'

build: ## build the functions: static, stripped bin/<function>/bootstrap for linux/$(LAMBDA_GOARCH)
	@for f in $(FUNCTIONS); do \
		echo "building bin/$$f/bootstrap"; \
		$(GOBUILD) -o bin/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR.
build-PreTokenFunction: ## sam build: pretoken into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/pretoken
build-PartnerTokenFunction: ## sam build: partnertoken into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/partnertoken
build-PermissionTokenFunction: ## sam build: permissiontoken into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/permissiontoken
build-CardEventsFunction: ## sam build: cardevents into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/cardevents
build-BrandCardEventsFunction: ## sam build: cardevents again, for the brand route (the brand secret) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/cardevents
build-AuthoritiesFunction: ## sam build: authorities into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authorities
build-AuthoritiesScheduleFunction: ## sam build: authoritiesschedule (enqueues the refresh) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authoritiesschedule
build-AuthoritiesRefreshFunction: ## sam build: authoritiesrefresh (consumes the refresh queue) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authoritiesrefresh
build-MembersFunction: ## sam build: members (consumes the member queue, confirms opened cards) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/members
build-MemberApiFunction: ## sam build: memberapi (member care: POST /members/activate, GET /members/me, PATCH /members/{card_id}/{code}) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/memberapi
build-SessionFunction: ## sam build: session (POST /session, sign-in) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/session
build-SessionKeysFunction: ## sam build: sessionkeys (the issuer's discovery document and JWKS) into $(ARTIFACTS_DIR)/bootstrap
	$(GOBUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/sessionkeys

# The AWS tests run on moto_server and the template's on samtranslator and
# cfn-lint; where one is missing they skip, each saying why, which go test
# shows only with -v: so make test ends with lines counting them by reason,
# each naming the fix.
test: ## run the whole test suite with the race detector (unit, handler, Secrets Manager, end-to-end, template)
	@skips=$$(mktemp); \
	WXCARD_SKIP_LOG=$$skips $(GO) test -race -count=1 -timeout 20m ./...; rc=$$?; \
	n=$$(wc -l < $$skips | tr -d ' '); \
	if [ "$$n" -gt 0 ]; then \
		echo "make test: $$n tests skipped for want of a tool, by reason:"; sort $$skips | uniq -c; \
	fi; \
	rm -f $$skips; exit $$rc

lint: ## go vet, then golangci-lint (with gosec; installed at $(GOLANGCI_LINT_VERSION) if missing)
	$(GO) vet ./...
	@command -v golangci-lint >/dev/null 2>&1 || $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" golangci-lint run ./...

bench: ## run the benchmarks and print the table of BENCHMARKS.md
	$(GO) run ./cmd/wxcard-bench

bench-smoke: ## run every benchmark once (-benchtime=1x), so that one that cannot run fails
	$(GO) test -run '^$$' -bench . -benchtime=1x -timeout 20m ./...

vulndb: $(VULNDB_DIR)/index/modules.json ## build the offline vulnerability database (golang.org/x/vulndb $(VULNDB_VERSION))
$(VULNDB_DIR)/index/modules.json:
	dir=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "cannot download golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	$(GO) run ./cmd/wxcard-vulndb -src "$$dir/data/osv" -out $(VULNDB_DIR)

vuln: vulndb ## govulncheck $(GOVULNCHECK_VERSION) against the offline database: fails on a vulnerability our code reaches
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db file://$(CURDIR)/$(VULNDB_DIR) ./...

mutate: ## mutation testing of the critical packages (gremlins $(GREMLINS_VERSION)); fails under 90 % efficacy per package
	@command -v gremlins >/dev/null 2>&1 || $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(GO) run ./cmd/wxcard-mutate

# make run builds the local API and execs it, so one signal (Ctrl-C, or a
# SIGTERM to make) stops it. TOKEN_ROUTES_AUTHORIZATION=JWT serves the
# token routes as behind the JWT authorizer (see docs/sign-in.md).
RUN_ADDR ?= 127.0.0.1:3000
run: ## serve the functions on $(RUN_ADDR) against an embedded WeChat Pay sandbox (TOKEN_ROUTES_AUTHORIZATION=JWT to require tokens)
	$(GO) build -o bin/wxcard-local ./cmd/wxcard-local
	exec bin/wxcard-local -addr $(RUN_ADDR)

validate: ## check template.yaml with cfn-lint (skipped, saying so, where cfn-lint is absent)
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml && echo "template.yaml: cfn-lint clean"; \
	else echo "cfn-lint not installed: template.yaml not linted"; fi

clean: ## remove build output and the vulnerability database
	rm -rf bin .aws-sam .cache
