"""SAM's own transform over template.yaml, as CloudFormation's hosted transform will run it.

`sam validate --lint` and `sam build` do not run every check the transform makes (for example
`Authorizer: NONE` without a default authorizer passes both and fails at deploy). Run with the
SAM CLI virtualenv's Python, which carries aws-sam-translator:
    .venv-sam/bin/python local/sam_transform.py template.yaml
Local code paths become placeholder S3 URIs (what `sam package` does). Exit 1 on any finding.
"""

from __future__ import annotations

import os
import sys

from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PACKAGED = {"CodeUri", "ContentUri"}


class _NoManagedPolicies:
    def load(self) -> dict:
        return {}


def main(path: str) -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in PACKAGED & properties.keys():
            properties[key] = "s3://packaged-bucket/key"
    try:
        output = transform(template, {}, _NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"SAM transform: {cause.message}", file=sys.stderr)
        return 1
    print(f"SAM transform: ok ({len(output['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
