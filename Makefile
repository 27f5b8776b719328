# stratum-guard: the two commands of the README's Quick start, plus the chores around them.
#   make run    install missing build dependencies, build, start the webhook (dev certificate)
#   make test   the same set-up, then the whole test suite through ctest
# Runs as root on Debian 12; as another user the apt-get step is prefixed with sudo.

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:8443
METRICS    ?= 127.0.0.1:9090
DEV_CERTS  ?= $(BUILD)/dev-certs
SANITIZE   ?= OFF

# Exactly the Debian packages the build and the test suite need. `prometheus` is there for
# promtool alone (the alerts' unit tests); its server is never started (see `install`). jq reads
# JSON in the shell tests (and in `make e2e` and `make image`). docker-registry (its service
# never started either) and skopeo are the real registry, and what pushes images to it, of the
# registry client's tests.
BUILD_DEPS = cmake make g++ pkg-config git ca-certificates openssl curl \
             libboost1.81-dev libssl-dev rapidjson-dev prometheus-cpp-dev libre2-dev \
             libyaml-cpp-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev ccache \
             prometheus jq docker-registry skopeo
# The load generator, the HTTPS baseline and the Python baseline used by `make bench`.
BENCH_DEPS = wrk nginx-light python3 python3-kubernetes valgrind time golang-1.19
# libFuzzer and the sanitizer runtimes of clang 19, for `make fuzz` only.
FUZZ_DEPS = clang-19 libfuzzer-19-dev libclang-rt-19-dev

# `make sanitize`, `make fuzz` and `make tsan` (docs/SECURITY.md), all three in CI. `sanitize`
# and `fuzz` share one clang 19 tree: every library is compiled once with
# -fsanitize=fuzzer-no-link,address,undefined, the test suite links it without libFuzzer and the
# fuzz targets with it, so the fuzzers cost their 7 harnesses, not a build of their own. TSan
# needs its own tree. Both at -O1 (a third less compile time than -O2, and the reports keep
# their stack frames).
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
SAN_CMAKE    = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" \
               -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
# Any UBSan report fails the test that triggered it (the clang tree also aborts on it:
# -fno-sanitize-recover=all); leaks are reported by ASan at exit and fail the test.
SAN_ENV      = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
               UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
               TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp"
# The tests whose threads share state: the webhook (in process and as the real binary), its
# body budget and metrics hit from many threads, the sweeper with its watch and leader election,
# the Kubernetes client and its rate limiter, the image inspector's workers and in-flight
# fetches, the certificate controller beside the server in `serve --manage-certs`. Single-threaded
# logic (sweeper_unit_tests, the registry's protocol scripts) gains nothing from TSan.
TSAN_TARGETS = server_e2e_tests server_unit_tests sweeper_integration_tests sweeper_cli_tests \
               sweeper_serve_tests kube_unit_tests kube_integration_tests \
               registry_scripted_tests webhookcerts_integration_tests
TSAN_TESTS   = ^(ServerE2E|InProcessServerTest|WebhookInspectionTest|BodyBudgetTest\.NeverPasses|MetricsTest\.EachLabel|sweeper\.|kube\.|registry\.ImageInspectorTest|webhookcerts\.ManageCertsCommandTest)
# `make fuzz FUZZ_SECONDS=N`: every target in fuzz/ for N seconds each, one after the other
# (CI: 20 s each). Built in the ASan tree.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = admission_review http_request policy_loader manifest_reader kubeconfig \
                sweeper_decoders text registry_documents

# `make soak SOAK_SECONDS=N` (test/soak/README.md): the real binary under good and hostile load,
# the sweeper against a failing fake API server; passes or fails on its own.
SOAK_SECONDS ?= 600

# `make e2e` (besides BUILD_DEPS' openssl, curl and jq): Go to build kube-apiserver from Debian's
# source package, reflect2 1.0.2's source for its vendor/ fix, etcd to run it. kubectl comes
# from kubernetes-client when no kubectl is in PATH (see e2e-deps).
E2E_DEPS = golang-1.19 golang-github-modern-go-reflect2-dev etcd-server
# `make image`: a Debian root filesystem, an OCI image made from it, and the archive written.
IMAGE_DEPS = mmdebstrap buildah podman skopeo

MAKEFLAGS += --no-print-directory

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps bench-deps fuzz-deps e2e-deps image-deps build run test sanitize tsan fuzz e2e \
        image bench clean format install soak

all: build

# Idempotent and fast when everything is there: dpkg-query decides, apt-get runs only for
# what is missing.
deps:
	@$(call install,$(BUILD_DEPS))

bench-deps:
	@$(call install,$(BENCH_DEPS))

fuzz-deps:
	@$(call install,$(FUZZ_DEPS))

# Debian 12's kubernetes-client is kubectl 1.20, the API server's own version; a kubectl already
# in PATH (a newer one) is used as it is, and kubernetes-client would clash with its files.
e2e-deps:
	@$(call install,$(E2E_DEPS) $(if $(shell command -v kubectl),,kubernetes-client))

image-deps:
	@$(call install,$(IMAGE_DEPS))

# Packages that ship a daemon (prometheus, docker-registry, nginx-light) would start it from
# their postinst and leave it running: a policy-rc.d that answers 101 ("action forbidden") while
# apt-get runs keeps invoke-rc.d and deb-systemd-invoke from starting anything, and the units of
# prometheus and docker-registry are then disabled so a reboot does not start them either. An
# existing policy-rc.d is left alone.
define install
missing=""; for p in $(1); do \
  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
  echo "Installing:$$missing"; \
  own_policy=""; \
  if [ ! -e /usr/sbin/policy-rc.d ]; then \
    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
    $(SUDO) chmod 755 /usr/sbin/policy-rc.d && own_policy=1; \
  fi; \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
  status=$$?; \
  [ -z "$$own_policy" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; \
  for daemon in prometheus docker-registry; do \
    case " $$missing " in *" $$daemon "*) \
      $(SUDO) deb-systemd-helper disable $$daemon.service >/dev/null 2>&1; \
      $(SUDO) update-rc.d $$daemon disable >/dev/null 2>&1;; \
    esac; \
  done; \
  exit $$status; \
fi
endef

# ccache makes a rebuild (another build directory, a second clone, a sanitizer tree of the same
# sources) cost a cache lookup per file; CCACHE_BASEDIR lets clones in other folders share it.
export CCACHE_BASEDIR ?= $(abspath $(CURDIR)/..)

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTRATUM_GUARD_SANITIZE=$(SANITIZE) \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache

# The binary alone: what `make run` needs, so a newcomer's first wait is the program, not its
# test suite.
build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target stratum-guard

run: build
	@mkdir -p $(DEV_CERTS)
	@echo "Starting the webhook on https://$(LISTEN) (metrics on http://$(METRICS)/metrics)."
	@echo "Try it from another terminal:"
	@echo "  curl --cacert $(DEV_CERTS)/ca.pem -H 'Content-Type: application/json' \\"
	@echo "       --data-binary @examples/review-miner-deployment.json https://localhost:$(lastword $(subst :, ,$(LISTEN)))/validate"
	$(BUILD)/stratum-guard serve --listen $(LISTEN) --metrics-listen $(METRICS) \
	  --dev-cert-dir $(DEV_CERTS)

test: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt: | deps fuzz-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_CXX_COMPILER=clang++-19 -DSTRATUM_GUARD_FUZZ=ON $(SAN_CMAKE)

$(TSAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(TSAN_BUILD) $(SAN_CMAKE) -DSTRATUM_GUARD_SANITIZE=thread

# The whole suite under AddressSanitizer and UBSan (fuzz.*.replay: libFuzzer replays the seeds).
sanitize: deps fuzz-deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure --timeout 600 -j $(JOBS)

# The concurrency tests under ThreadSanitizer: only their targets are built.
tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)
	cd $(TSAN_BUILD) && $(SAN_ENV) ctest --output-on-failure --timeout 600 -j $(JOBS) \
	  -R '$(TSAN_TESTS)'

fuzz: deps fuzz-deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	fuzz/run.sh $(ASAN_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

soak: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target stratum-guard fake-apiserver soak-driver
	$(BUILD)/soak-driver --seconds $(SOAK_SECONDS) --binary $(BUILD)/stratum-guard \
	  --fake-apiserver $(BUILD)/fake-apiserver --deployment manifests/base/deployment.yaml

# A real kube-apiserver v1.20.2 and etcd on loopback (built once into
# $$HOME/.cache/stratum-guard/kube), the webhook and the sweeper under the manifests' own
# configuration and RBAC: test/e2e/README.md.
e2e: build e2e-deps
	test/e2e/run.sh $(BUILD)/stratum-guard

# The OCI archive $(BUILD)/stratum-guard-image.tar, then its root filesystem tested in a chroot.
image: image-deps build
	image/build.sh $(BUILD)/stratum-guard $(BUILD)/stratum-guard-image.tar
	image/test.sh $(BUILD)/stratum-guard-image.tar

bench: bench-deps $(BUILD)/CMakeCache.txt
	bench/run.sh $(BUILD)

# The one-file install, `kubectl apply -f install.yaml` (docs/INSTALL.md): manifests/default
# rendered. The test manifests_install_yaml fails when it is out of date with the sources.
.PHONY: install.yaml
install.yaml:
	test/manifests/install_yaml.sh render > $@.tmp && mv $@.tmp $@

# PREFIX=/usr/local by default; DESTDIR stages it for a package or an image.
install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

format:
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
