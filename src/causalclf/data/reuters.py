"""Reuters-21578 (Distribution 1.0) SGML, with the ModApte split.

The files are SGML, not well-formed XML, and one of them holds a byte that is not UTF-8, so
they are read as latin-1 and taken apart with regular expressions. A document is in ModApte
when ``TOPICS="YES"`` and ``LEWISSPLIT`` is TRAIN or TEST; the rest (NOT-USED, or topics not
assigned by the editors) is returned under `EXCLUDED` so that the load report counts it.

Fields of each record: ``title``, ``body``, ``text`` (title and body on separate lines, or the
raw text of an unprocessed document, which has neither), ``topics`` (a list, possibly empty),
``places`` and ``newid``. Character references (``&#3;``, ``&lt;``) are decoded and control
characters dropped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from causalclf.data.records import EXCLUDED, Record
from causalclf.data.report import DataError, RowIssue

FIELDS = ("title", "body", "text", "topics", "places", "newid")
MODAPTE = {"TRAIN": "train", "TEST": "test"}
EMPTY_BODY = "no BODY (a title only, or unprocessed text); the text is what there is"

_DOC = re.compile(r"<REUTERS([^>]*)>(.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_ITEM = re.compile(r"<D>(.*?)</D>", re.S)
_TAGS = re.compile(r"<[^>]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _element(doc: str, tag: str) -> str | None:
    found = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", doc, re.S)
    return None if found is None else found.group(1)


def _clean(text: str | None) -> str:
    if text is None:
        return ""
    return _CONTROL.sub("", html.unescape(text)).strip()


def read_reuters(path: Path, needed: Sequence[str]):
    """Records by ModApte split ("train", "test"), plus `EXCLUDED`; see the module docs."""
    files = sorted(path.glob("reut2-*.sgm")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no reut2-*.sgm files")
    missing = [c for c in needed if c not in FIELDS]
    if missing:
        raise DataError.from_issue(
            RowIssue(str(path), None, missing[0], f"not a Reuters field; fields are {list(FIELDS)}")
        )
    out: dict[str, list[Record]] = {"train": [], "test": [], EXCLUDED: []}
    for file in files:
        for match in _DOC.finditer(file.read_text(encoding="latin-1")):
            attrs = dict(_ATTR.findall(match.group(1)))
            doc = match.group(2)
            title, body = _clean(_element(doc, "TITLE")), _clean(_element(doc, "BODY"))
            text = "\n".join(part for part in (title, body) if part)
            if not text:  # TYPE="UNPROC": the text is not divided into title and body
                text = _clean(_TAGS.sub(" ", _element(doc, "TEXT") or ""))
            fields = {
                "title": title,
                "body": body,
                "text": text,
                "newid": attrs.get("NEWID", ""),
                "topics": [_clean(t) for t in _ITEM.findall(_element(doc, "TOPICS") or "")],
                "places": [_clean(t) for t in _ITEM.findall(_element(doc, "PLACES") or "")],
            }
            split = MODAPTE.get(attrs.get("LEWISSPLIT", "")) if attrs.get("TOPICS") == "YES" else None
            record = Record(
                fields, str(file), None, "record", f"reuters:{fields['newid']}", note=None if body else EMPTY_BODY
            )
            out[split or EXCLUDED].append(record)
    return out
