#!/usr/bin/env bash
# Sets up one virtual environment per Keras backend (.venv-tensorflow, .venv-jax,
# .venv-torch) and runs the test suite under each. BACKENDS="jax" limits the run.
set -uo pipefail
cd "$(dirname "$0")/.."
backends=${BACKENDS:-tensorflow jax torch}
python=${PYTHON:-python3}
mkdir -p .test-reports

setup() {
    local backend=$1 venv=.venv-$1
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q --upgrade pip || return 1
    if [ "$backend" = torch ]; then
        # The CPU build; a bare "torch" requirement would pull CUDA wheels.
        "$venv/bin/python" -m pip install -q "torch==2.13.0" || return 1
    fi
    # Ray (kerascope.ray) is tested once, in the JAX environment.
    local extras="$backend,test,zarr"
    [ "$backend" = jax ] && extras="$extras,ray"
    [ "$backend" = torch ] && extras="$extras,quantus"  # tests/test_quantus.py
    "$venv/bin/python" -m pip install -q -e ".[$extras,hub]" || return 1
    # keras-hub's own pins pull tensorflow-text (and TensorFlow) into every environment;
    # its models need only what the `hub` extra lists.
    "$venv/bin/python" -m pip install -q --no-deps "keras-hub==0.32.0"
}

declare -A status pids
for backend in $backends; do
    setup "$backend" > ".test-reports/setup-$backend.log" 2>&1 &
    pids[$backend]=$!
done
for backend in $backends; do
    if ! wait "${pids[$backend]}"; then
        echo "setup of the $backend environment failed:"; tail -30 ".test-reports/setup-$backend.log"
        exit 1
    fi
done

failed=0
for backend in $backends; do
    echo "=== tests on the $backend backend ==="
    KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 ".venv-$backend/bin/python" -m pytest -q \
        -p no:cacheprovider --junitxml=".test-reports/$backend.xml" "$@"
    status[$backend]=$?
    [ "${status[$backend]}" -eq 0 ] || failed=1
done

"$python" - $backends <<'PY'
import sys
import xml.etree.ElementTree as ET

totals = {"passed": 0, "failed": 0, "skipped": 0}
for backend in sys.argv[1:]:
    suite = ET.parse(f".test-reports/{backend}.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests, failures = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    print(f"{backend}: {tests - failures - skipped} passed, {failures} failed, {skipped} skipped")
    totals["passed"] += tests - failures - skipped
    totals["failed"] += failures
    totals["skipped"] += skipped
print(f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
PY
exit $failed
