#!/usr/bin/env bash
# The scaling table (benchmarks/scaling.py --only table) on a many-core machine with no network.
#
#   bash benchmarks/device_run.sh [scaling.py options]     # from the repository root
#
# Needs python3 (3.12 here) and the wheels in wheels/ (gitignored; filled by
#   pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d wheels \
#     botocore httptools jmespath python-dateutil urllib3 six click rich prometheus-client orjson
# ). No pip and no install of mpusweep: the wheels are unpacked into .deps/ (botocore and its
# dependencies, httptools always; click, rich, prometheus-client, orjson only where python3
# lacks them) and src/ goes first on PYTHONPATH. Writes $OUT/scaling.txt (the table),
# $OUT/scaling.err (progress and errors) and $OUT/machine.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/benchmarks/results}
WHEELS=${WHEELS:-$PWD/wheels}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
rm -rf .deps
"$PY" - "$WHEELS" <<'EOF'
import importlib.util
import pathlib
import sys
import zipfile

# Unpacked always (their versions matter); the others only where missing.
ALWAYS = {"botocore", "jmespath", "python_dateutil", "urllib3", "six", "httptools"}
MODULE = {"python_dateutil": "dateutil", "markdown_it_py": "markdown_it"}
deps = pathlib.Path(".deps")
deps.mkdir()
wheels = sorted(pathlib.Path(sys.argv[1]).glob("*.whl"))
if not wheels:
    sys.exit(f"no wheels in {sys.argv[1]}")
for wheel in wheels:
    dist = wheel.name.split("-")[0].lower()
    if dist not in ALWAYS and importlib.util.find_spec(MODULE.get(dist, dist)) is not None:
        continue
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(deps)
    print("unpacked", wheel.name, file=sys.stderr)
EOF
export PYTHONPATH="$PWD/src:$PWD/.deps:$PWD"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "cores: $(nproc) usable, $(getconf _NPROCESSORS_ONLN) online"
  "$PY" -c 'import sys, botocore; print("python", sys.version.split()[0], "botocore", botocore.__version__)'
  uname -a
  grep -m1 "model name" /proc/cpuinfo || true
} >"$OUT/machine.txt"
"$PY" -c 'import botocore, httptools, click, rich, prometheus_client, orjson, mpusweep.cli'
timeout 420 "$PY" -m benchmarks.scaling --only table --per-process 1000 "$@" \
  >"$OUT/scaling.txt" 2>"$OUT/scaling.err"
cat "$OUT/machine.txt" "$OUT/scaling.txt"
