"""Write the RFC 4475 torture messages as one `.sip` file each (exact bytes, CRLF).

The messages are in `rfc4475.txt` next to this script: RFC 4475 §3 (IETF material), in the
RFC's own notation (§2): `<allOneLine>...</allOneLine>` joins lines, `<hex>...</hex>` is raw
bytes (whitespace inside is ignored), `<repeat count=N>x</repeat>` repeats. Each message
starts after a line `=== <kind>/<name> <RFC section and title>` and runs up to the next
such line; its lines become CRLF-terminated before `<hex>` is expanded, so a 0x0A inside
binary stays a bare LF.

Provenance: transcribed from the printed RFC text; the RFC's bit-exact tar archive (its
appendix) was not at hand. Every Content-Length was checked against its body (see
`tests/unit/sip/test_torture.py::test_corpus_content_lengths`), except where the message is
wrong on purpose. Whitespace inside folded lines follows the printed text.

Messages are filed by what our parser must do, not by RFC section: `valid/` holds every
message a parser must accept (§3.1.1, and the §3.2 to §3.4 messages whose problem belongs to
a higher layer), `invalid/` every message that §3.1.2 or §3.3 says must be refused.

Run `python tests/data/sip/torture/generate.py` to rewrite the files; the test suite checks
that the files and this script agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "rfc4475.txt"

_START = re.compile(r"^=== ((?:valid|invalid)/[a-z0-9]+) [^\n]*\n", re.MULTILINE)
_ALL_ONE_LINE = re.compile(r"<allOneLine>\n(.*?)\n</allOneLine>", re.DOTALL)
_REPEAT = re.compile(r"<repeat count=(\d+)>(.*?)</repeat>", re.DOTALL)
_HEX = re.compile(rb"<hex>(.*?)</hex>", re.DOTALL)


def expand(text: str) -> bytes:
    """RFC 4475 §2 notation to wire bytes."""
    text = _ALL_ONE_LINE.sub(lambda m: m.group(1).replace("\n", ""), text)
    text = _REPEAT.sub(lambda m: m.group(2) * int(m.group(1)), text)
    data = text.replace("\n", "\r\n").encode("utf-8")
    return _HEX.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), data)


def messages(source: str) -> dict[str, str]:
    """`valid/name` → the message text in RFC notation."""
    starts = list(_START.finditer(source))
    out: dict[str, str] = {}
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(source)
        out[match.group(1)] = source[match.end() : end]
    return out


def build() -> dict[str, bytes]:
    """`valid/name.sip` / `invalid/name.sip` → bytes."""
    source = SOURCE.read_text(encoding="utf-8")
    return {f"{key}.sip": expand(text) for key, text in messages(source).items()}


def main() -> None:
    files = build()
    for relative, data in files.items():
        path = HERE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    sys.stdout.write(f"wrote {len(files)} messages\n")


if __name__ == "__main__":
    main()
