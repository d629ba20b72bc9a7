#!/usr/bin/env bash
# gpu-check.sh checks and times wgtensor's WebGPU backend on this machine's
# GPU and prints one table: the device self-check (every op against the
# CPU), MatMul throughput, the benchmark training steps on the GPU and on
# this machine's CPU backend with their dispatch counts, the cost of one
# small dispatch, and each example's quick run on the GPU.
#
#   bench/gpu-check.sh             a hardware GPU is required (its Vulkan,
#                                  Metal or D3D12 driver; lavapipe is refused)
#   bench/gpu-check.sh -software   accept a software adapter (lavapipe), with
#                                  MatMul up to 2048 and one iteration each,
#                                  to check the script end to end
#
# It builds with the go on PATH; with BIN=dir set it uses the binaries
# found there instead (bench.test, devices and the examples, built with the
# commands below), for a machine without Go. A machine without the Vulkan
# loader needs libvulkan1 installed (or unpacked) first.
set -euo pipefail

software=0
for arg in "$@"; do
	case "$arg" in
	-software) software=1 ;;
	-h | -help | --help)
		sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "gpu-check.sh: unknown argument $arg (want -software)" >&2
		exit 2
		;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
examples="linreg logreg mnist rnn attention"
if [ -z "${BIN:-}" ]; then
	BIN=$(mktemp -d)
	trap 'rm -rf "$BIN"' EXIT
	echo "building into $BIN" >&2
	go test -c -o "$BIN/bench.test" ./bench
	go build -o "$BIN/devices" ./examples/devices
	for e in $examples; do go build -o "$BIN/$e" "./examples/$e"; done
fi

rows=()
row() { rows+=("$(printf '%-34s %s' "$1" "$2")"); }
failed=0

# The adapter and the self-check.
devices_out=$("$BIN/devices" 2>&1) && selfcheck=pass || selfcheck=FAIL
gpu_line=$(printf '%s\n' "$devices_out" | grep -m1 '^  gpu: ' || true)
if [ -z "$gpu_line" ]; then
	printf '%s\n' "$devices_out" | head -20 >&2
	echo "gpu-check.sh: no GPU adapter found" >&2
	exit 1
fi
adapter=${gpu_line#  gpu: }
if [ "$software" = 0 ] && printf '%s' "$adapter" | grep -Eqi 'llvmpipe|swiftshader|warp|software'; then
	echo "gpu-check.sh: the adapter is a software rasteriser ($adapter); run with -software to accept it" >&2
	exit 1
fi
engine=$(printf '%s\n' "$devices_out" | grep -m1 '^    engine ' | sed 's/^    engine //' || true)
limits=$(printf '%s\n' "$devices_out" | grep -m1 '^    limits: ' | sed 's/^    limits: //' || true)
checks=$(printf '%s\n' "$devices_out" | grep -c '^  pass ' || true)
fails=$(printf '%s\n' "$devices_out" | grep -c '^  FAIL ' || true)
row "adapter" "$adapter"
row "engine" "$engine"
row "limits" "$limits"
row "self-check (cpu and gpu)" "$selfcheck: $checks checks passed, $fails failed"
[ "$selfcheck" = pass ] || failed=1

# bench runs one sub-benchmark in a process of its own and prints its
# result line's fields after the name.
large=1 # BenchmarkMatMul's 4096 and 8192
[ "$software" = 1 ] && large=
bench() { # name, device, benchtime
	(cd bench && WGTENSOR_BENCH_DEVICES="$2" WGTENSOR_BENCH_LARGE="$large" \
		"$BIN/bench.test" -test.run '^$' -test.bench "$1/^$2\$" -test.benchtime "$3" 2>&1) |
		grep -E "/$2(-[0-9]+)?[[:space:]]" | head -1 || true
}
metric() { # line, unit
	printf '%s\n' "$1" | awk -v u="$2" '{ for (i = 2; i <= NF; i++) if ($i == u) print $(i - 1) }'
}
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f ms", ns / 1e6 }'; }

# MatMul throughput.
sizes="1024 2048 4096 8192"
benchtime=2s
if [ "$software" = 1 ]; then
	sizes="1024 2048"
	benchtime=1x
fi
for n in $sizes; do
	line=$(bench "^BenchmarkMatMul\$/^$n\$" gpu "$benchtime")
	if [ -z "$line" ]; then
		row "MatMul $n" "FAIL (no result)"
		failed=1
		continue
	fi
	gflops=$(metric "$line" GFLOP/s)
	row "MatMul $n" "$(awk -v g="$gflops" 'BEGIN { printf "%.3f TFLOP/s", g / 1000 }') ($(ms "$(metric "$line" ns/op)") per product)"
done

# Training steps on the GPU against this machine's CPU backend.
steptime=3s
[ "$software" = 1 ] && steptime=2x
for w in TrainStepMLP TrainStepCNN Attention; do
	g=$(bench "^Benchmark$w\$" gpu "$steptime")
	c=$(bench "^Benchmark$w\$" cpu "$steptime")
	if [ -z "$g" ] || [ -z "$c" ]; then
		row "$w" "FAIL (no result)"
		failed=1
		continue
	fi
	gns=$(metric "$g" ns/op)
	cns=$(metric "$c" ns/op)
	row "$w step" "gpu $(ms "$gns"), cpu $(ms "$cns"), gpu/cpu $(awk -v a="$gns" -v b="$cns" 'BEGIN { printf "%.2f", a / b }'); $(metric "$g" dispatches/op) dispatches, $(metric "$g" submits/op) submits, $(metric "$g" readbacks/op) readbacks a step"
done

# SmallOps is 100 chained adds of 1,000 elements: fused, one kernel, it
# gives the host's cost of an op; with fusion off (WGTENSOR_GPU_FUSION=0),
# 100 dispatches, the cost of one small dispatch.
for fusion in 1 0; do
	s=$(WGTENSOR_GPU_FUSION=$fusion bench "^BenchmarkSmallOps\$" gpu "$steptime")
	label="SmallOps (100 adds of 1,000)"
	[ "$fusion" = 0 ] && label="SmallOps, fusion off"
	if [ -z "$s" ]; then
		row "$label" "FAIL (no result)"
		failed=1
		continue
	fi
	sns=$(metric "$s" ns/op)
	disp=$(metric "$s" dispatches/op)
	if [ "$fusion" = 1 ]; then
		row "$label" "$(ms "$sns"), $disp dispatches: $(awk -v ns="$sns" 'BEGIN { printf "%.1f µs", ns / 1e3 / 100 }') an op"
	else
		row "$label" "$(ms "$sns"), $disp dispatches: $(awk -v ns="$sns" -v d="$disp" 'BEGIN { printf "%.1f µs", ns / 1e3 / (d > 0 ? d : 1) }') a dispatch"
	fi
done

# Each example's quick run on the GPU.
for e in $examples; do
	start=$(date +%s.%N)
	if out=$("$BIN/$e" -quick -device=gpu 2>&1); then
		status=pass
	else
		status=FAIL
		failed=1
		printf '%s\n' "$out" | tail -5 >&2
	fi
	row "example $e -quick" "$status in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }')"
done

echo
echo "wgtensor gpu-check $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //' || uname -m), $(nproc 2>/dev/null || echo '?') threads"
printf '%s\n' "${rows[@]}"
exit "$failed"
