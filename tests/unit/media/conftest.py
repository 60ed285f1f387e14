"""Fixtures of the media tests: where Debian's sipp keeps the RTP captures we replay."""

from __future__ import annotations

from pathlib import Path

import pytest

SIPP_PCAPS = Path("/usr/share/sip-tester")


@pytest.fixture(scope="session")
def sipp_pcaps() -> Path:
    """The directory of sipp's captures; fails (never skips) when sip-tester is missing."""
    if not (SIPP_PCAPS / "g711a.pcap").is_file():
        pytest.fail(
            f"{SIPP_PCAPS}/g711a.pcap not found: the media tests replay sipp's RTP "
            "captures. Install them with `apt-get install sip-tester` (or `make apt-tools`)."
        )
    return SIPP_PCAPS
