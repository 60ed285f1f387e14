"""Reading FAQ entries out of pasted text and uploaded .txt / .md / .csv / .pdf files."""

from __future__ import annotations

import pytest

from frontdesk.web.kb_import import ImportProblem, read_csv, read_text, read_upload


def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with `lines` of text in Helvetica, written by hand (valid xref)."""
    text = " ".join(
        f"BT /F1 12 Tf 50 {750 - 20 * i} Td ({line}) Tj ET" for i, line in enumerate(lines)
    ).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_q_and_a_lines_and_the_rest_as_free_text() -> None:
    preview = read_text(
        "Welcome to Alpha Pizzeria.\n\nQ: Do you deliver?\nA: Yes, within 5 km.\n"
        "Q: Is there parking?\nA: Free parking\nbehind the restaurant.\n"
    )
    assert preview.entries == [
        ("Do you deliver?", "Yes, within 5 km."),
        ("Is there parking?", "Free parking behind the restaurant."),
    ]
    assert preview.text == "Welcome to Alpha Pizzeria."


def test_markdown_headings_ending_in_a_question_mark() -> None:
    preview = read_upload(
        "faq.md",
        b"# Our FAQ\n\n## Do you have gluten-free pizza?\nYes, every day.\n\n"
        b"## Can I book a table?\n\nCall us or come by.\n",
    )
    assert preview.entries == [
        ("Do you have gluten-free pizza?", "Yes, every day."),
        ("Can I book a table?", "Call us or come by."),
    ]
    assert preview.text == "Our FAQ"


def test_csv_with_a_header_and_semicolons() -> None:
    preview = read_csv('question;answer\nDo you deliver?;"Yes; within 5 km"\nOpen Sunday?;No\n')
    assert preview.entries == [("Do you deliver?", "Yes; within 5 km"), ("Open Sunday?", "No")]


def test_csv_row_without_an_answer_names_its_line() -> None:
    with pytest.raises(ImportProblem, match="line 2"):
        read_upload("faq.csv", b"Do you deliver?,Yes\nOpen Sunday?,\n")


def test_pdf_text_is_read() -> None:
    pdf = tiny_pdf(["Q: Do you cater weddings?", "A: Yes, up to 200 guests."])
    preview = read_upload("menu.pdf", pdf)
    assert preview.entries == [("Do you cater weddings?", "Yes, up to 200 guests.")]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("faq.docx", b"x", "choose a .txt, .md, .csv or .pdf"),
        ("faq.txt", b"", "empty"),
        ("faq.pdf", b"not a pdf at all", "not a readable PDF"),
        ("faq.txt", b"\n\n  \n", "nothing to import"),
    ],
)
def test_bad_uploads_say_why(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ImportProblem, match=message):
        read_upload(name, data)
