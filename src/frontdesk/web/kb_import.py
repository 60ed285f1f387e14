"""Reading a knowledge base out of what a business already has: pasted text or a file.

Owns: turning a pasted text or an uploaded `.txt`, `.md`, `.csv` or `.pdf` into FAQ entries
(question, answer) plus the text that is not a question and answer (it can go into the
free knowledge text), for the editor's preview. Recognised shapes:
- `Q: …` / `A: …` lines (also `Question:` / `Answer:`), answers may run over several lines;
- a line (or a Markdown heading) that ends with `?`, followed by its answer paragraph;
- CSV with two columns, question then answer (a `question,answer` header is skipped);
- PDF: its text (pypdf), then read as above.

Must not: save anything (the editor shows the preview; a separate confirmed request saves),
or trust the file's name beyond choosing its reader. Every failure is an `ImportProblem`
with a sentence a business can act on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Final

from pypdf import PdfReader
from pypdf.errors import PdfReadError

MAX_UPLOAD: Final = 5 * 1024 * 1024  # a menu or price list, not a book
MAX_ENTRIES: Final = 500
KINDS: Final = ("txt", "md", "csv", "pdf")
_Q = re.compile(r"^\s*(?:q|question)\s*[:.)-]\s*(.*)$", re.IGNORECASE)
_A = re.compile(r"^\s*(?:a|answer)\s*[:.)-]\s*(.*)$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s*")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


class ImportProblem(ValueError):
    """The upload or text cannot be read; the message says why, in plain words."""


@dataclass
class ImportPreview:
    """What an import would add: entries in their order, and the rest as free text."""

    entries: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""


def kind_of(filename: str) -> str:
    """The reader for `filename` by its extension; ImportProblem for anything else."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in KINDS:
        raise ImportProblem("choose a .txt, .md, .csv or .pdf file")
    return suffix


def read_upload(filename: str, data: bytes) -> ImportPreview:
    """Read an uploaded file (see the module docstring for the shapes)."""
    if not data:
        raise ImportProblem("the file is empty")
    if len(data) > MAX_UPLOAD:
        raise ImportProblem(f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    kind = kind_of(filename)
    if kind == "pdf":
        return read_text(_pdf_text(data))
    text = _decode(data)
    if kind == "csv":
        return read_csv(text)
    return read_text(text)


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportProblem("the file is not text (save it as UTF-8)")  # pragma: no cover


def _pdf_text(data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ImportProblem("the PDF is password-protected: save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise ImportProblem("the file is not a readable PDF") from exc
    text = "\n".join(pages)
    if not text.strip():
        raise ImportProblem("the PDF has no text (a scanned image?): paste the text instead")
    return text


def read_csv(text: str) -> ImportPreview:
    """Two columns, question then answer; rows with one empty cell are refused by line."""
    preview = ImportPreview()
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    for line, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if line == 1 and [c.lower() for c in cells[:2]] == ["question", "answer"]:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise ImportProblem(f"line {line} needs a question and an answer (two columns)")
        preview.entries.append((cells[0], " ".join(c for c in cells[1:] if c)))
    return _checked(preview)


def read_text(text: str) -> ImportPreview:
    """Plain text or Markdown: Q:/A: pairs and "…?" lines with their answers; the rest
    is kept as free text."""
    preview = ImportPreview()
    rest: list[str] = []
    question: str | None = None
    answer: list[str] = []

    def close() -> None:
        nonlocal question, answer
        if question is not None:
            said = " ".join(answer).strip()
            if said:
                preview.entries.append((question, said))
            else:
                rest.append(question)
        question, answer = None, []

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = _BULLET.sub("", _HEADING.sub("", raw)).strip()
        if not line:
            if question is not None and answer:
                close()
            elif question is None:
                rest.append("")
            continue
        if match := _Q.match(line):
            close()
            question = match.group(1).strip() or None
            continue
        if (match := _A.match(line)) and question is not None:
            answer.append(match.group(1).strip())
            continue
        if line.endswith("?") and (question is None or answer):
            close()
            question = line
            continue
        if question is not None:
            answer.append(line)
        else:
            rest.append(line)
    close()
    preview.text = re.sub(r"\n{3,}", "\n\n", "\n".join(rest)).strip()
    return _checked(preview)


def _checked(preview: ImportPreview) -> ImportPreview:
    if len(preview.entries) > MAX_ENTRIES:
        raise ImportProblem(f"more than {MAX_ENTRIES} questions: split the file")
    if not preview.entries and not preview.text:
        raise ImportProblem("nothing to import: no questions and answers were found")
    return preview
