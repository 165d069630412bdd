"""Read the Yearbook chapter's Markdown into numbered paragraphs and sections, for provenance and checks."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CHAPTER_FILE = "hk-yearbook-2024-ch16-innovation-technology-industry.zh-Hans.md"

# English slugs for the chapter's headings; the chapter itself has no English.
SECTION_SLUGS = {
    "基础设施": "infrastructure",
    "香港科技园公司": "hkstp",
    "港深创新及科技园": "hsitp",
    "新田科技城": "san-tin-technopole",
    "数码港": "cyberport",
    "香港生产力促进局": "hkpc",
    "研究及发展中心": "rd-centres",
    "香港检测和认证局": "hkctc",
    "香港认可处": "hkas",
    "标准及校正实验所": "scl",
    "与标准有关的服务": "standards-services",
    "创新科技发展": "innovation-technology-development",
    "研发和技术转移": "rd-technology-transfer",
    "InnoHK 创新香港研发平台": "innohk",
    "初创企业": "start-ups",
    "汇聚和培育人才": "talent",
    "智慧城市及数字经济": "smart-city-digital-economy",
    "新型工业化": "new-industrialisation",
    "政府、企业和社会运用创科的情况": "use-of-innovation-technology",
    "与内地合作": "mainland-cooperation",
    "网址": "websites",
}
INTRO_SLUG = "introduction"


@dataclass(frozen=True)
class Section:
    """A headed section: its path of slugs from the chapter down, and its heading."""

    path: tuple[str, ...]
    heading: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    """A numbered paragraph, with the section it stands in and its source line."""

    number: int
    line: int
    section: Section
    text: str


def find_chapter(start: Path | None = None) -> Path | None:
    """Locate the chapter file: $HKGRAPH_CHAPTER, else ../shared/sources/ above the repo."""
    env = os.environ.get("HKGRAPH_CHAPTER")
    if env:
        return Path(env)
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "sources" / CHAPTER_FILE
        if candidate.is_file():
            return candidate
        candidate = parent.parent / "shared" / "sources" / CHAPTER_FILE
        if candidate.is_file():
            return candidate
    return None


def heading_text(line: str) -> tuple[int, str]:
    """Return (level, text) of a Markdown heading, with bold markers removed."""
    level = len(line) - len(line.lstrip("#"))
    return level, line.lstrip("#").strip().strip("*").strip()


def plain_text(line: str) -> str:
    """Strip Markdown link and footnote markup, keeping the visible text."""
    line = re.sub(r"<sup>(.*?)</sup>", r"\1", line)
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
    return line.replace("\\\\_", "_").replace("\\_", "_")


def parse_chapter(text: str) -> tuple[list[Section], list[Paragraph]]:
    """Split the chapter into sections and numbered paragraphs (every non-heading line)."""
    intro = Section((INTRO_SLUG,), "引言", 2)
    sections: list[Section] = [intro]
    current = intro
    stack: list[tuple[int, str]] = []
    paragraphs: list[Paragraph] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line == "---":
            continue
        if line.startswith("#"):
            level, heading = heading_text(line)
            slug = SECTION_SLUGS.get(heading)
            if slug is None:  # chapter number and title
                continue
            stack = [(lvl, s) for lvl, s in stack if lvl < level] + [(level, slug)]
            current = Section(tuple(s for _, s in stack), heading, level)
            sections.append(current)
            continue
        paragraphs.append(Paragraph(len(paragraphs) + 1, lineno, current, plain_text(line)))
    return sections, paragraphs


def load_chapter(path: Path | None = None) -> tuple[list[Section], list[Paragraph]]:
    """Parse the chapter file; raise FileNotFoundError if it cannot be found."""
    path = path or find_chapter()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"chapter file {CHAPTER_FILE} not found (set HKGRAPH_CHAPTER)")
    return parse_chapter(path.read_text(encoding="utf-8"))
