# wgtensor — common tasks. `make help` lists them.

GO      ?= go
PKGS    ?= ./...
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Vulkan drivers register themselves here; lavapipe is lvp_icd.*.json.
ICDS    := $(wildcard /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json)
FASHION := $(wildcard /usr/share/datasets/fashion-mnist/*.gz)

.PHONY: help deps demo devices examples test test-cpu race lint bench gpu-check compare compare-onnx fuzz vet fmt

help:
	@echo "make demo      train the MNIST CNN (2 epochs) on the best device here and report its test accuracy"
	@echo "make devices   list the devices here and self-check every op on each against the CPU"
	@echo "make examples  every example's short -quick run, which checks its own threshold"
	@echo "make test      lint, then all tests on the CPU and the GPU (installs lavapipe if no Vulkan driver is present)"
	@echo "make test-cpu  all tests, GPU ones skipped when no driver is present"
	@echo "make race      the race detector over device, tensor, autograd and nn"
	@echo "make bench     every benchmark on cpu and gpu"
	@echo "make compare   the benchmark workloads in PyTorch and in wgtensor, side by side"
	@echo "make gpu-check on a machine with a GPU: self-check, MatMul TFLOP/s, training steps, dispatch cost, examples (SOFTWARE=1 accepts lavapipe)"
	@echo "make compare-onnx  the ONNX models in ONNX Runtime and in wgtensor, side by side"
	@echo "make fuzz      each fuzz target for FUZZTIME (60s), outside CI"
	@echo "make lint      gofmt and go vet"
	@echo "make deps      install the lavapipe Vulkan driver (Debian/Ubuntu), Go modules and the ONNX test models"
	@echo "make onnx-models  export the ONNX test models and write ONNX Runtime's outputs (FORCE=1 redoes it)"

deps:
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y mesa-vulkan-drivers libvulkan1 dataset-fashion-mnist
	$(GO) mod download
	$(MAKE) onnx-models

# onnx-models builds the ONNX importer's reference data under
# onnx/testdata/gen/ (PyTorch exports, ONNX Runtime outputs; see
# onnx/testdata/README.md), skipping what exists; FORCE=1 rebuilds it all.
.PHONY: onnx-models
onnx-models:
	@GO=$(GO) FORCE=$(FORCE) bash onnx/testdata/deps.sh

# ensure-deps installs the driver and Fashion-MNIST when either is missing
# and apt-get is available, so that `make test` works on a fresh Debian
# machine.
.PHONY: ensure-deps
ensure-deps:
ifeq ($(strip $(ICDS)),)
	@if command -v apt-get >/dev/null 2>&1; then $(MAKE) deps; \
	else echo "no Vulkan driver found: install one (see README) or use 'make test-cpu'"; fi
else ifeq ($(strip $(FASHION)),)
	@if command -v apt-get >/dev/null 2>&1; then $(MAKE) deps; fi
else
	@$(MAKE) --no-print-directory onnx-models
endif

demo:
	$(GO) run ./examples/mnist -model=cnn -device=auto -epochs=2

devices:
	$(GO) run ./examples/devices

# Each example's -quick run trains briefly and exits non-zero when it misses
# its threshold; mnist also runs on the GPU (lavapipe in CI).
EXAMPLES_QUICK := linreg logreg mnist rnn attention
examples:
	@set -e; for e in $(EXAMPLES_QUICK); do echo "== $$e -quick -device=cpu"; $(GO) run ./examples/$$e -quick -device=cpu; done
	$(GO) run ./examples/mnist -quick -model=mlp -device=gpu
	$(GO) run ./examples/mnist -quick -dataset=fashion -model=mlp -device=cpu
	$(GO) run ./examples/onnx -device=cpu -model onnx/testdata/gen/models/resnet18.onnx -input input=onnx/testdata/gen/models/resnet18.input_0.npy -bench 3
	test "$$($(GO) run ./examples/ocr -device=cpu -text 'Hello World 2024')" = "Hello World 2024"

# WGTENSOR_REQUIRE_GPU turns a missing GPU into a test failure instead of a
# skip, so the WebGPU backend is always tested here.
# The device tests run twice more for the code paths this CPU would not
# take: without AVX-512 (the AVX2 kernels, im2col convolutions), and with
# no assembly at all (-tags purego: the portable Go kernels).
test: ensure-deps lint
	WGTENSOR_REQUIRE_GPU=1 $(GO) test -count=1 $(PKGS)
	GODEBUG=cpu.avx512f=off $(GO) test -count=1 ./device/...
	$(GO) test -count=1 -tags purego ./device/...
	WGTENSOR_GPU_SUBGROUPS=0 WGTENSOR_REQUIRE_GPU=1 $(GO) test -count=1 ./device/... ./tensor/... ./conformance/...
	WGTENSOR_GPU_FUSION=0 WGTENSOR_REQUIRE_GPU=1 $(GO) test -count=1 ./tensor/... ./autograd/... ./conformance/...
	WGTENSOR_REQUIRE_GPU=1 $(GO) test -count=1 -race ./device/... ./tensor/... ./autograd/... ./nn/... ./data/...
	WGTENSOR_REQUIRE_GPU=1 $(GO) test -count=1 -race -short ./onnx/... ./conformance/...
	$(GO) run ./examples/devices
	$(MAKE) examples

test-cpu:
	$(GO) test -count=1 $(PKGS)

race:
	$(GO) test -count=1 -race ./device/... ./tensor/... ./autograd/... ./nn/...
	$(GO) test -count=1 -race -short ./onnx/... ./conformance/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./bench

gpu-check:
	bash bench/gpu-check.sh $(if $(SOFTWARE),-software)

# compare times the benchmark workloads in PyTorch (Debian's python3-torch,
# when installed) and in wgtensor in one run and prints the ratios.
compare:
	/usr/bin/python3 bench/compare.py

# compare-onnx times the ONNX models in ONNX Runtime and in wgtensor,
# interleaved, after make onnx-models.
compare-onnx: onnx-models
	/usr/bin/python3 bench/compare_onnx.py

# fuzz runs each fuzz target for FUZZTIME (go test runs only their seeds).
FUZZTIME ?= 60s
FUZZ_TARGETS := ./data:FuzzParseIDX ./nn/safetensors:FuzzParse ./tensor:FuzzBroadcast ./tensor:FuzzViews ./tensor:FuzzDecodeNPY ./onnx:FuzzLoad
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; done

lint: fmt vet
	bash -n bench/gpu-check.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build $(PKGS)
