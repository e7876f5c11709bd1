"""The Serverless Application Repository's view of template.yaml, read as `sam publish` reads it.

Run with the SAM CLI virtualenv's Python, which carries SAM CLI's own SAR library
(samcli.vendor.serverlessrepo: the parser and the request `sam publish` sends):
    .venv-sam/bin/python local/sar_metadata.py template.yaml
It parses the template, builds SAR's CreateApplication request from its
`AWS::ServerlessRepo::Application` metadata (which checks the properties SAR requires), then
checks what SAR itself refuses at publish time: the name, author and label patterns, the
lengths, a semantic version, https URLs, and that LicenseUrl / ReadmeUrl are files here (`sam
package` uploads them) and the license is the SPDX one named. Exit 1 with every finding.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from samcli.vendor.serverlessrepo.exceptions import ServerlessRepoError
from samcli.vendor.serverlessrepo.parser import get_app_metadata, parse_template, strip_app_metadata
from samcli.vendor.serverlessrepo.publish import _create_application_request

# SAR's CreateApplication constraints (AWS Serverless Application Repository API reference).
NAME = re.compile(r"[a-zA-Z0-9-]{1,140}\Z")
AUTHOR = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]\Z|[a-z0-9]\Z")
LABEL = re.compile(r"[a-zA-Z0-9+\-_:/@]{1,127}\Z")
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?\Z"
)
LICENSE_FIRST_LINE = {"MIT": "MIT License", "Apache-2.0": "Apache License"}


def findings(template_path: Path) -> list[str]:
    template = parse_template(template_path.read_text(encoding="utf-8"))
    try:
        metadata = get_app_metadata(template)
        request = _create_application_request(metadata, str(strip_app_metadata(template)))
    except ServerlessRepoError as error:
        return [f"sam publish would refuse it: {error}"]
    here = template_path.parent
    problems = _shape(request) + _files(request, here)
    version = request.get("SemanticVersion", "")
    if not SEMVER.match(version):
        problems.append(f"SemanticVersion {version!r} is not a semantic version")
    return problems


def _shape(request: dict[str, object]) -> list[str]:
    problems = []
    if not NAME.match(str(request["Name"])):
        problems.append("Name: 1-140 letters, digits and hyphens")
    if not AUTHOR.match(str(request["Author"])):
        problems.append("Author: lowercase letters, digits and single hyphens (SAR's pattern)")
    if not 1 <= len(str(request["Description"])) <= 256:
        problems.append("Description: 1-256 characters")
    labels = request.get("Labels") or []
    if (
        not isinstance(labels, list)
        or len(labels) > 10
        or not all(LABEL.match(str(label)) for label in labels)
    ):
        problems.append("Labels: at most 10, each 1-127 of [a-zA-Z0-9+-_:/@]")
    for key in ("SourceCodeUrl", "HomePageUrl"):
        if not str(request.get(key, "")).startswith("https://"):
            problems.append(f"{key}: an https URL")
    return problems


def _files(request: dict[str, object], here: Path) -> list[str]:
    problems = []
    for key in ("LicenseUrl", "ReadmeUrl"):
        if not (here / str(request.get(key, ""))).is_file():
            problems.append(f"{key}: {request.get(key)!r} is not a file beside the template")
    license_path = here / str(request.get("LicenseUrl", ""))
    license_text = license_path.read_text(encoding="utf-8") if license_path.is_file() else ""
    first_line = LICENSE_FIRST_LINE.get(str(request.get("SpdxLicenseId")))
    if first_line is None:
        problems.append(f"SpdxLicenseId {request.get('SpdxLicenseId')!r}: not one this check knows")
    elif license_text and not license_text.startswith(first_line):
        problems.append(f"{license_path.name} is not the {request.get('SpdxLicenseId')} license")
    return problems


def main(path: str) -> int:
    problems = findings(Path(path).resolve())
    for problem in problems:
        print(f"SAR metadata: {problem}", file=sys.stderr)
    if not problems:
        print("SAR metadata: what `sam publish` sends is complete and SAR's constraints hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
