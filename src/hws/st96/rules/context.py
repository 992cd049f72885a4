"""What every rule shares: the parsed document, the package's files, the problems found so far
(:class:`RuleContext`), and small readers of element text and attributes."""

from __future__ import annotations

import re
from datetime import date

from lxml import etree

from hws.st96.namespaces import com
from hws.st96.problems import Location, Problem

#: file name suffix → (media type, problem code when the magic bytes disagree)
FILE_TYPES: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "file-not-pdf"),
    ".jpg": ("image/jpeg", "file-not-jpeg"),
    ".jpeg": ("image/jpeg", "file-not-jpeg"),
    ".png": ("image/png", "file-not-png"),
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})


class RuleContext:
    """One document under check: rules append to ``problems`` and read ``version``."""

    def __init__(
        self,
        tree: etree._ElementTree,
        entry: str,
        files: dict[str, bytes],
        media: dict[str, str],
        problems: list[Problem],
    ) -> None:
        self.tree = tree
        self.root = tree.getroot()
        self.entry = entry
        self.files = files
        self.media = media
        self.problems = problems
        self.version: str | None = None

    def where(self, el: etree._Element | None) -> Location:
        if el is None:
            return Location(entry=self.entry)
        return Location(
            entry=self.entry, path=self.tree.getpath(el), line=el.sourceline if isinstance(el.sourceline, int) else None
        )

    def add(self, code: str, message: str, el: etree._Element | None = None) -> None:
        self.problems.append(Problem(code, message, self.where(el)))

    @property
    def refused_names(self) -> set[str]:
        # entries present but refused earlier (already reported) are not "missing"
        return {p.where.entry for p in self.problems if p.where.entry and p.code.startswith(("zip-", "file-"))}


def text_of(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def date_of(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def bool_of(text: str | None) -> bool | None:
    if text is None:
        return None
    return text in ("true", "1")


def attribute_of(el: etree._Element | None, name: str) -> str | None:
    return None if el is None else el.get(name)


def reference_escapes(ref: str) -> bool:
    return (
        ref.startswith(("/", "\\"))
        or "\\" in ref
        or bool(re.match(r"^[A-Za-z]:", ref))
        or "://" in ref
        or ".." in ref.split("/")
        or "\x00" in ref
    )


def locarno_code(el: etree._Element) -> str:
    """``06-01`` (class-subclass), or the class alone."""
    klass = text_of(el.find(com("LocarnoClass"))) or ""
    subclass = text_of(el.find(f"{com('LocarnoSubclassBag')}/{com('LocarnoSubclass')}"))
    return f"{klass}-{subclass}" if subclass else klass


def name_text(el: etree._Element) -> str | None:
    for tag in (com("PersonFullName"), com("OrganizationStandardName"), com("EntityName"), com("LastName")):
        found = el.find(f".//{tag}")
        if found is not None:
            text = "".join(t for t in found.itertext() if isinstance(t, str)).strip()
            if text:
                return text
    return None
