"""The documentation stands on its own: no tracked file points at material outside the repository, and every
relative link in the user-facing markdown leads to a file that exists."""
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

# Pointers a user of the repository cannot follow (written in pieces so this file does not match itself).
OUTSIDE = ("../" + "shared", "SEED_" + "EXPERIMENTS", "study " + "§")
LINKED_DOCS = ["README.md", "experiments/README.md", *sorted(p.relative_to(ROOT).as_posix()
                                                          for p in (ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def tracked(*patterns: str) -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", *patterns], cwd=ROOT, capture_output=True,
                                check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def relative_links(text: str) -> list[str]:
    """The targets of the markdown links outside code (fenced blocks and inline code), without their anchors;
    links to a scheme (https:, mailto:) or to an anchor of the same page are left out."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = []
    for target in LINK.findall(text):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_no_tracked_file_points_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
             for path in tracked("*.md", "*.yaml", "*.yml", "*.py")
             for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
             if any(pointer in line for pointer in OUTSIDE)]
    assert not found, "point these at docs/study.md instead:\n" + "\n".join(found)


@pytest.mark.parametrize("doc", LINKED_DOCS)
def test_every_relative_link_resolves(doc):
    path = ROOT / doc
    broken = [target for target in relative_links(path.read_text()) if not (path.parent / target).exists()]
    assert not broken, f"{doc}: links to missing files: {broken}"


def test_the_link_finder_skips_code_urls_and_anchors():
    text = "[a](x.md#top) ![b](p.png) [c](https://e.org) [d](#here)\n`[e](no.md)`\n```\n[f](no.md)\n```\n"
    assert relative_links(text) == ["x.md", "p.png"]


def test_the_study_page_lists_every_experiment_config_and_every_claim_id():
    import yaml

    page = (ROOT / "docs" / "study.md").read_text()
    for eid in range(1, 12):
        assert f'<a id="e{eid}"></a>' in page
    configs = sorted((ROOT / "src" / "finetune_lab" / "conf" / "experiment").glob("*.yaml"))
    missing = [c.name for c in configs if c.name not in page]
    assert not missing, f"docs/study.md does not link {missing}"
    study = yaml.safe_load((ROOT / "experiments" / "study_split.yaml").read_text())
    named = set(re.findall(r"`([a-z0-9_]+)(?:\*)?`", page))
    prefixes = [name[:-1] for name in re.findall(r"`([a-z0-9_]+\*)`", page)]
    unnamed = [c["id"] for c in study["claims"]
               if c["id"] not in named and not any(c["id"].startswith(p) for p in prefixes)]
    assert not unnamed, f"docs/study.md does not name the claims {unnamed}"
