#!/usr/bin/env bash
# The build step of action.yml: install lambdalayer, build, and hand the result to the
# workflow ($GITHUB_OUTPUT: path, sha256, base64sha256; $GITHUB_STEP_SUMMARY: a table).
# With INPUT_ALL_TARGET (one job of 'lambdalayer plan --matrix'): 'build --all' for that
# target into INPUT_OUTPUT_DIR ($GITHUB_OUTPUT: path, the deploy files' directory).
# Runs as it is outside GitHub too (the tests run it): set the INPUT_* variables, and
# LAMBDALAYER_SKIP_INSTALL=1 to use the lambdalayer already on PATH.
set -euo pipefail

: "${INPUT_REQUIREMENTS:=requirements.txt}" "${INPUT_RUNTIME:=python3.12}" "${INPUT_ARCH:=x86_64}"
: "${INPUT_OUTPUT:=layer.zip}" "${INPUT_ARGS:=}" "${INPUT_VERSION:=}"
: "${INPUT_ALL_TARGET:=}" "${INPUT_OUTPUT_DIR:=dist}"
: "${GITHUB_OUTPUT:=/dev/null}" "${GITHUB_STEP_SUMMARY:=/dev/null}"

if [ "${LAMBDALAYER_SKIP_INSTALL:-0}" != 1 ]; then
    if [ -e "$INPUT_VERSION" ] && [ -n "$INPUT_VERSION" ]; then  # a wheel or a checkout
        python -m pip install --quiet "$INPUT_VERSION"
    elif [ -n "$INPUT_VERSION" ]; then
        python -m pip install --quiet "lambdalayer==$INPUT_VERSION"
    else
        python -m pip install --quiet "${GITHUB_ACTION_PATH:?}"
    fi
fi

summary="$(mktemp)"
if [ -n "$INPUT_ALL_TARGET" ]; then
    # shellcheck disable=SC2086  # INPUT_ARGS is a list of arguments on purpose
    lambdalayer build --all --only-target "$INPUT_ALL_TARGET" --output-dir "$INPUT_OUTPUT_DIR" \
        --json $INPUT_ARGS > "$summary"
    python - "$summary" "$GITHUB_OUTPUT" "$GITHUB_STEP_SUMMARY" "$INPUT_OUTPUT_DIR" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as outputs:
    outputs.write(f"path={sys.argv[4]}/deploy\n")
rows = [f"| {a['kind']} | {a['name']} | {a['status']} | {a.get('zipped_bytes', '')} |" for a in result["artefacts"]]
with open(sys.argv[3], "a") as summary:
    summary.write(f"### Lambda layers and functions for {sys.argv[4]}\n\n")
    summary.write("| kind | name | status | bytes zipped |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
PY
    exit 0
fi
# shellcheck disable=SC2086  # INPUT_ARGS is a list of arguments on purpose
lambdalayer build -r "$INPUT_REQUIREMENTS" --runtime "$INPUT_RUNTIME" --arch "$INPUT_ARCH" \
    -o "$INPUT_OUTPUT" --json $INPUT_ARGS > "$summary"

python - "$summary" "$GITHUB_OUTPUT" "$GITHUB_STEP_SUMMARY" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as outputs:
    for key in ("sha256", "base64sha256"):
        outputs.write(f"{key}={result[key]}\n")
    outputs.write(f"path={result['output']}\n")
rows = [f"| {p['name']} | {p['version']} | {p['unzipped_bytes'] / 1048576:.1f} MiB |" for p in result["packages"]]
with open(sys.argv[3], "a") as summary:
    summary.write(f"### Lambda layer for {result['target']['runtime']} ({result['target']['arch']})\n\n")
    summary.write(f"`{result['output']}`: {result['zipped_bytes']:,} bytes zipped, "
                  f"{result['unzipped_bytes']:,} unzipped, base64sha256 `{result['base64sha256']}`\n\n")
    summary.write("| package | version | unzipped |\n|---|---|---|\n" + "\n".join(rows) + "\n")
PY
