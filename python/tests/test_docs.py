"""The documentation stays inside the repository: every relative Markdown link
of the README files and docs/ resolves to a file of the checkout, and nothing
points at the workspace's shared/ folder (docs/spec.md is the definition)."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files():
    files = [ROOT / "README.md", ROOT / "python" / "README.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    return files


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(path):
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"


def test_no_tracked_file_refers_to_the_shared_folder():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = ROOT / name
        if name == "python/tests/test_docs.py" or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if re.search(r"(\.\./)+shared/|\bshared/spec/", text):
            offenders.append(name)
    assert offenders == [], f"links to the shared/ folder: {offenders}"


def test_the_spec_is_in_the_repository():
    spec = (ROOT / "docs" / "spec.md").read_text()
    assert "## 4. Mixed precision" in spec and "## 6. State layout and checkpoints" in spec
