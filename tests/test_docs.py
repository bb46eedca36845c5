"""The documentation's links resolve (docs/development.md, "Writing docs"): every relative link in
README.md and docs/*.md names an existing file, every #anchor into a Markdown file names one of
its headings (GitHub's slugs), code and config cite the pages by link and heading, and the README
stays short."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 160

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target), with an optional "title".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A page cited by name and heading outside a link: docs/design.md#shards, design.md#shards.
CITATION = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)#([\w-]+)")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...
# Citations by number or by a README heading, which the docs replaced with links.
OLD_CITATION = re.compile(r"design\.md section \d+|README, \"|README's \"|in the README\b")
CODE_SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".rst", ".cfg", ".toml"}
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "build",
    "results",
    ".snakemake",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
}


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without Markdown, lower case, punctuation
    dropped (letters, digits, '_', '-' and spaces stay), spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a Markdown page's headings; a repeated slug gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def shown(path: Path) -> str:
    """A path as the messages give it: relative to the repository where it lies inside."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def broken(target: str, source: Path, bases: list[Path]) -> str | None:
    """Why a relative link from `source` does not resolve (tried against each base directory in
    turn), or None when it does."""
    path, _, anchor = target.partition("#")
    # A bare #anchor points into the page itself.
    candidates = [(base / path).resolve() for base in bases] if path else [source]
    for candidate in candidates:
        if not candidate.exists():
            continue
        if anchor and candidate.suffix == ".md" and anchor not in anchors(candidate):
            return f"no heading with the anchor #{anchor} in {shown(candidate)}"
        return None
    return f"{path} does not exist"


def doc_links(page: Path) -> list[tuple[int, str, list[Path]]]:
    """(line, target, directories to resolve it against) for every relative link of a page:
    Markdown links against the page's directory, as GitHub resolves them; page#anchor
    citations outside links against the page's directory, then the repository root."""
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match.group(1)
            if not EXTERNAL.match(target):
                found.append((number, target, [page.parent]))
        for match in CITATION.finditer(LINK.sub("", line)):
            found.append((number, f"{match.group(1)}#{match.group(2)}", [page.parent, REPO]))
    return found


@cache
def code_files() -> tuple[Path, ...]:
    """The sources, configs and report captions that may cite the docs."""
    files = []
    for directory, subdirectories, names in os.walk(REPO):
        subdirectories[:] = [
            name
            for name in subdirectories
            if name not in SKIPPED_DIRS and not name.endswith(".egg-info")
        ]
        for name in names:
            path = Path(directory, name)
            if path.suffix in CODE_SUFFIXES or name == "Snakefile":
                files.append(path)
    return tuple(sorted(files))


@pytest.mark.parametrize("page", DOCS, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    problems = [
        f"{page.relative_to(REPO)}:{number}: {target}: {why}"
        for number, target, bases in doc_links(page)
        if (why := broken(target, page, bases))
    ]
    assert not problems, "\n".join(problems)


def test_code_and_config_cite_existing_headings():
    """A citation such as docs/design.md#shards in code, config or a caption names a page and
    one of its headings."""
    problems = []
    for path in code_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CITATION.finditer(line):
                target = f"{match.group(1)}#{match.group(2)}"
                if why := broken(target, path, [REPO, path.parent]):
                    problems.append(f"{path.relative_to(REPO)}:{number}: {target}: {why}")
    assert not problems, "\n".join(problems)


def test_code_and_config_cite_no_section_numbers():
    """Pages are cited by link and heading, never by a section number or a README heading that
    has moved to docs/."""
    old = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in code_files()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OLD_CITATION.search(line)
    ]
    assert not old, "\n".join(old)


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_slugs_follow_github():
    assert slug("The DAG") == "the-dag"
    assert slug("What the reader absorbs and what stops a skim") == (
        "what-the-reader-absorbs-and-what-stops-a-skim"
    )
    assert slug("`skim.duplicates`: drop or error") == "skimduplicates-drop-or-error"
    assert slug("Z→ee fits (MC)") == "zee-fits-mc"
    assert slug("Many input files") == "many-input-files"


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Shards\n", encoding="utf-8")
    page.write_text(
        "# Page\n\n[ok](other.md#shards) [gone](missing.md) [bad](other.md#no-such-heading)\n"
        "[self](#page) `other.md#shards` and other.md#nothing\n"
        "```\n[in a code block](ignored.md)\n```\n",
        encoding="utf-8",
    )
    problems = [
        target for _, target, bases in doc_links(page) if broken(target, page, bases) is not None
    ]
    assert problems == ["missing.md", "other.md#no-such-heading", "other.md#nothing"]


def test_one_version_in_package_citation_and_changelog():
    """The release is the same everywhere: the installed package (what the results cards and the
    ONNX metadata report), pyproject.toml, CITATION.cff and a heading of CHANGELOG.md."""
    import tomllib

    from egcalib import __version__

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert __version__ == version, "reinstall: pip install -e ."
    assert re.search(rf"^version: {re.escape(version)}$", (REPO / "CITATION.cff").read_text(), re.M)
    assert re.search(rf"^## {re.escape(version)}\b", (REPO / "CHANGELOG.md").read_text(), re.M)
