#!/usr/bin/env bash
# Least privilege and operability of template.yaml, checked by tools rather than by eye:
#   1. cfn-lint with the serverless rules (cfn-lint-serverless, from the project venv)
#   2. checkov (its own virtualenv .venv-checkov, pinned: it pins many packages), offline
#   3. sam validate --lint, SAM's transform and the SAR metadata, when SAM CLI is installed
#      (make sam-local)
# Every finding is fixed in template.yaml or suppressed there, in place, with its reason
# (cfn-lint: Metadata.cfn-lint.config.ignore_checks; checkov: Metadata.checkov.skip).
# Idempotent; fast when everything is installed. Exit status: non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPLATE=${TEMPLATE:-template.yaml}
PYTHON=${PYTHON:-python3}
CHECKOV_VERSION=3.3.30
CHECKOV_VENV=.venv-checkov
CHECKOV_STAMP=$CHECKOV_VENV/.installed-checkov-$CHECKOV_VERSION
SAM=.venv-sam/bin/sam

echo "== cfn-lint + serverless rules: $TEMPLATE"
.venv/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- "$TEMPLATE"

if [ ! -f "$CHECKOV_STAMP" ]; then
    echo "== installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
    test -x "$CHECKOV_VENV/bin/python" || "$PYTHON" -m venv "$CHECKOV_VENV"
    # pip's notes about absent local mirrors are noise; errors still fail the script.
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "checkov==$CHECKOV_VERSION" 2> >(grep -v "^WARNING: Location" >&2)
    touch "$CHECKOV_STAMP"
fi
echo "== checkov $CHECKOV_VERSION (offline, no API key): $TEMPLATE"
# No platform, no downloads, no update check: only the checks shipped in the pinned package.
BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE \
    "$CHECKOV_VENV/bin/checkov" --file "$TEMPLATE" --framework cloudformation \
    --skip-download --quiet --compact

if [ -x "$SAM" ]; then
    echo "== sam validate --lint: $TEMPLATE"
    SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 \
        "$SAM" validate --lint --template-file "$TEMPLATE"
    echo "== SAM's own transform (what the deploy runs): $TEMPLATE"
    .venv-sam/bin/python local/sam_transform.py "$TEMPLATE"
    echo "== the Serverless Application Repository's metadata, as sam publish reads it: $TEMPLATE"
    .venv-sam/bin/python local/sar_metadata.py "$TEMPLATE"
else
    echo "== sam validate --lint skipped: SAM CLI not installed (make sam-local)"
fi
echo "template checks passed"
