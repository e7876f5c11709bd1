"""The tables that exist in two places cannot drift: the error codes in docs/errors.md are
reauth/errors.py's `ErrorCode` (every code with its HTTP status), the parameters in
docs/configuration.md are template.yaml's (every one with its default), and the capabilities the
README asks a deployer to acknowledge are the ones the template needs."""

from __future__ import annotations

import re
from pathlib import Path

from local.provision import load_template
from reauth.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\|(.+)\|\s*$")
CODE = re.compile(r"`([^`]+)`")


def _table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `heading`, as stripped cells."""
    section = markdown.split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        match = ROW.match(line)
        if match is None:
            if rows:
                break
            continue
        cells = [cell.strip() for cell in match.group(1).split("|")]
        if set(cells[0]) <= {"-", ":", " "}:
            continue
        rows.append(cells)
    return rows[1:]  # the header row


def _difference(name: str, documented: dict, actual: dict) -> str:
    missing = {k: actual[k] for k in actual.keys() - documented.keys()}
    extra = {k: documented[k] for k in documented.keys() - actual.keys()}
    differ = {
        k: f"docs {documented[k]!r}, code {actual[k]!r}"
        for k in documented.keys() & actual.keys()
        if documented[k] != actual[k]
    }
    return (
        f"{name} drifted: not documented {missing}; documented but gone {extra}; different {differ}"
    )


def test_the_error_table_is_the_codes_with_their_http_status():
    rows = _table_rows((ROOT / "docs" / "errors.md").read_text(), "## Error codes")
    documented = {code: int(row[1]) for row in rows for code in CODE.findall(row[0])}
    actual = {error.code: error.status for error in ErrorCode}
    assert documented == actual, _difference(
        "docs/errors.md vs reauth/errors.py", documented, actual
    )


def _default_as_documented(cell: str) -> str:
    """`sandbox` -> sandbox, 30 -> 30, empty ("your app") -> ''."""
    first = cell.split()[0].strip("`")
    return "" if first == "empty" else first


def test_the_parameter_table_is_the_templates_parameters_with_their_defaults():
    rows = _table_rows((ROOT / "docs" / "configuration.md").read_text(), "## Template parameters")
    documented = {row[0].strip("`"): _default_as_documented(row[1]) for row in rows}
    actual = {
        name: str(parameter.get("Default", ""))
        for name, parameter in load_template()["Parameters"].items()
    }
    assert documented == actual, _difference(
        "docs/configuration.md vs template.yaml Parameters", documented, actual
    )


IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::InstanceProfile"}
IAM_NAMES = {"RoleName", "UserName", "GroupName", "InstanceProfileName", "ManagedPolicyName"}
RESOURCE_POLICIES = {
    "AWS::Lambda::Permission",
    "AWS::IAM::Policy",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
}
NESTED = {"AWS::Serverless::Application", "AWS::CloudFormation::Stack"}


def _capabilities_the_template_needs(template: dict) -> set[str]:
    """What the Serverless Application Repository asks for (its CreateCloudFormationChangeSet
    documentation): SAM's functions make a role each and, for each event source, a
    Lambda::Permission."""
    needed = set()
    for resource in template["Resources"].values():
        kind, properties = resource["Type"], resource.get("Properties", {})
        function = kind == "AWS::Serverless::Function"
        if kind in IAM_TYPES or (function and "Role" not in properties):
            needed.add("CAPABILITY_IAM")
        if kind in IAM_TYPES and IAM_NAMES & properties.keys():
            needed.add("CAPABILITY_NAMED_IAM")
        if kind in RESOURCE_POLICIES or (function and properties.get("Events")):
            needed.add("CAPABILITY_RESOURCE_POLICY")
        if kind in NESTED:
            needed.add("CAPABILITY_AUTO_EXPAND")
    return needed


def test_the_readme_asks_for_the_capabilities_the_template_needs_and_no_others():
    readme = (ROOT / "README.md").read_text()
    listed = {CODE.findall(row[0])[0] for row in _table_rows(readme, "## Deploy") if "`" in row[0]}
    needed = _capabilities_the_template_needs(load_template())
    assert listed == needed, f"README's Deploy lists {sorted(listed)}; needed: {sorted(needed)}"
    command = readme.split("aws serverlessrepo create-cloud-formation-change-set", 1)[1]
    assert set(re.search(r"--capabilities ([A-Z_ ]+)", command).group(1).split()) == needed
    samconfig = (ROOT / "samconfig.toml").read_text()
    assert set(re.search(r'capabilities = "([^"]+)"', samconfig).group(1).split()) == needed & {
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
    }
