"""The repository is self-contained: the wire contracts it cites live in `docs/`, and every
`docs/...` path cited in code, tests, benchmarks or the README exists in a clone."""

import re
import subprocess
from pathlib import Path

from gateway.registry import KINDS

ROOT = Path(__file__).resolve().parent.parent
# A citation outside the repository (the contracts once lived in a sibling `shared/` folder).
OUTSIDE = re.compile(r"(?:\.\./|/work/)shared/|(?<![\w./-])shared/(?:upstreams|gateway-contract)")
# A repository path under docs/ (not a URL's `.../docs/...`, hence the look-behind).
CITED = re.compile(r"(?<![\w./-])docs/[\w./-]*\w\.(?:md|txt)")
# Copied verbatim from the vendors' material: they cite the vendors' own docs/ trees.
VERBATIM = ("docs/upstreams/", "docs/seeds/")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name for name in names
        if name.endswith((".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg"))
        or name.startswith("scripts/")
    ]


def test_nothing_cites_a_path_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked_text_files() if path.is_file()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_every_cited_docs_path_exists():
    cited: dict[str, str] = {}
    for path in tracked_text_files():
        name = str(path.relative_to(ROOT))
        if name.startswith(VERBATIM) or not path.is_file():
            continue
        for match in CITED.finditer(path.read_text(errors="replace")):
            cited.setdefault(match.group(0), name)
    assert "docs/gateway-contract.md" in cited, "the README cites the gateway's contract"
    missing = {doc: where for doc, where in cited.items() if not (ROOT / doc).is_file()}
    assert missing == {}


def test_every_upstream_kind_has_its_wire_contract_in_the_repository():
    for kind in KINDS:
        assert (ROOT / "docs" / "upstreams" / f"{kind}.md").is_file(), kind
    index = (ROOT / "docs" / "upstreams" / "README.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", index):
        assert (ROOT / "docs" / "upstreams" / link).is_file(), link
    assert (ROOT / "docs" / "seeds" / "README.md").is_file(), "the upstream index cites ../seeds/"


def test_the_readme_links_every_doc():
    """The README is the front door: every page of `docs/` is one link away from it."""
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    pages = {str(page.relative_to(ROOT)) for page in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


def test_the_readme_stays_a_front_door():
    """What it is, the two commands, a first query, links (issue 20): guides, logs and
    history belong in docs/ and CHANGELOG.md, not here."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move the detail to docs/"
    assert (ROOT / "CHANGELOG.md").is_file()
