"""pre-commit runs the project's own pinned tools: no hook can make it fetch code from GitHub."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict:
    return yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())


def test_every_hook_repository_is_local_so_pre_commit_never_needs_the_network():
    repos = _config()["repos"]
    assert repos, "no hooks configured"
    assert [repo["repo"] for repo in repos] == ["local"] * len(repos)


def test_every_hook_runs_a_tool_from_the_project_venv():
    hooks = [hook for repo in _config()["repos"] for hook in repo["hooks"]]
    assert {hook["id"] for hook in hooks} >= {"ruff-check", "ruff-format", "mypy", "cfn-lint"}
    for hook in hooks:
        assert hook["language"] in ("unsupported", "system"), hook["id"]
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]
