"""The README's code blocks, read the way a user reads them: a section's fenced blocks in order,
each with its language; a block whose first line is a comment naming a file (`# train.py: ...`,
`-- models/x.sql: ...`) is that file's content."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dbt_project.database import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
_NAMES_A_FILE = re.compile(r"^(?:#|--) ([\w./-]+\.\w+):")


@dataclass(frozen=True)
class Block:
    language: str
    text: str

    @property
    def file(self) -> Path | None:
        """The file the block is, when its first line names one."""
        found = _NAMES_A_FILE.match(self.text)
        return Path(found.group(1)) if found else None


def section(title: str, readme: Path = README) -> str:
    text = readme.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def blocks(title: str, readme: Path = README) -> list[Block]:
    """The fenced code blocks of the README's section `title`, in order."""
    return [Block(lang, text) for lang, text in _BLOCK.findall(section(title, readme))]


def commands(block: Block) -> list[str]:
    """The commands of a shell block, one per line, without their trailing comments."""
    return [line.split("  #")[0].strip() for line in block.text.splitlines() if line.strip()]
