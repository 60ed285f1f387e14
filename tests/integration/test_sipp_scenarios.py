"""Every scenario in tests/data/sipp runs to its end against a scripted far end, and sends
what its header says it sends (the far end records each RTP packet).

The far end is tests/integration/sipp_fake_uas.py, not frontdesk's edge: these tests prove
the scenarios and the runner, so that an edge test failing with them points at the edge.
A few negative runs show the scenarios really check what they claim (a 200 where a 486
is expected fails the call; a BYE during hold fails it).
"""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from tests.integration.sipp_fake_uas import FakeUas, RtpSeen, UasBehaviour
from tests.support.sipp import SippResult, run_sipp, write_rtp_pcap

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "sipp"
SIP_TESTER = Path("/usr/share/sip-tester")


def _require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is missing: apt-get install {package}")


def run(
    name: str,
    uas: FakeUas,
    *,
    calls: int = 1,
    rate: float = 10,
    timeout_s: float = 20,
    **kwargs: object,
) -> SippResult:
    _require("sipp", "sip-tester")
    return run_sipp(
        SCENARIOS / f"{name}.xml",
        uas.target,
        calls=calls,
        rate=rate,
        timeout_s=timeout_s,
        service="0551234567",
        **kwargs,  # type: ignore[arg-type]
    )


def g711(tmp_path: Path, law: str, seconds: float) -> bytes:
    """`seconds` of a 440 Hz tone as raw 8 kHz G.711 (`law` "mu-law" or "a-law"), by sox."""
    _require("sox", "sox")
    out = tmp_path / f"tone.{law}"
    raw = ["-r", "8000", "-c", "1", "-t", "raw", "-e", law, str(out)]
    subprocess.run(["sox", "-n", *raw, "synth", str(seconds), "sine", "440"], check=True)
    return out.read_bytes()


def spacing_ms(packets: list[RtpSeen]) -> float:
    gaps = [b.at - a.at for a, b in itertools.pairwise(packets)]
    return 1000 * sum(gaps) / len(gaps)


# --------------------------------------------------------------------------- signalling


def test_uac_basic() -> None:
    with FakeUas() as uas:
        result = run("uac_basic", uas, trace_logs=True)
    assert result.ok, result.explain()
    assert [e for e in uas.events if e.startswith("recv")] == [
        "recv INVITE",
        "recv ACK",
        "recv BYE",
    ]
    assert result.latency is not None and result.latency.count == 1
    assert len(result.log_lines) == 1
    assert result.log_lines[0].startswith("answer m=audio ")


def test_uac_basic_fails_on_a_busy_answer() -> None:
    with FakeUas(UasBehaviour(final=486)) as uas:
        result = run("uac_basic", uas, timeout_s=5)
    assert not result.ok and result.failed_calls == 1


def test_uac_remote_bye() -> None:
    with FakeUas(UasBehaviour(bye_after_s=0.3)) as uas:
        result = run("uac_remote_bye", uas)
    assert result.ok, result.explain()
    assert uas.saw("sent BYE") == 1 and uas.saw("recv 200 BYE") == 1
    assert uas.saw("recv BYE") == 0


def test_uac_cancel() -> None:
    with FakeUas(UasBehaviour(answer_delay_s=5)) as uas:
        result = run("uac_cancel", uas)
    assert result.ok, result.explain()
    assert uas.events[:2] == ["recv INVITE", "recv CANCEL"]
    assert "sent 487" in uas.events and "sent 200" not in uas.events
    assert uas.saw("recv ACK") == 1


def test_uac_no_ack() -> None:
    with FakeUas(UasBehaviour(ack_giveup_s=1.6)) as uas:
        result = run("uac_no_ack", uas)
    assert result.ok, result.explain()
    assert uas.saw("recv ACK") == 0
    assert uas.saw("retrans 200") >= 2  # at 0.5 s and 1.5 s
    assert uas.saw("no ACK for 200") == 1 and uas.saw("recv 200 BYE") == 1
    assert result.unexpected_messages == 0  # retransmitted 200s are absorbed


def test_options() -> None:
    with FakeUas() as uas:
        result = run("options", uas, calls=3, rate=30)
    assert result.ok, result.explain()
    assert uas.saw("recv OPTIONS") == 3


def test_uac_codec_mismatch() -> None:
    with FakeUas() as uas:
        result = run("uac_codec_mismatch", uas)
    assert result.ok, result.explain()
    assert uas.events == ["recv INVITE", "sent 488", "recv ACK"]


def test_uac_busy_logs_the_limit() -> None:
    with FakeUas(UasBehaviour(final=486, limit_header="org")) as uas:
        result = run("uac_busy", uas, calls=2, rate=20, trace_logs=True)
    assert result.ok, result.explain()
    assert result.log_lines == ("limit org", "limit org")
    assert uas.saw("recv ACK") == 2


def test_uac_busy_without_the_header() -> None:
    with FakeUas(UasBehaviour(final=486)) as uas:
        result = run("uac_busy", uas, trace_logs=True)
    assert result.ok, result.explain()
    assert result.log_lines == ("limit",)


def test_uac_busy_fails_when_answered() -> None:
    with FakeUas() as uas:
        result = run("uac_busy", uas, timeout_s=5)
    assert not result.ok and result.failed_calls == 1
    assert result.unexpected_messages >= 1


def test_uac_rate_many_calls() -> None:
    with FakeUas() as uas:
        result = run("uac_rate", uas, calls=40, rate=100, concurrent=10)
    assert result.ok, result.explain()
    assert (result.total_calls, result.successful_calls) == (40, 40)
    assert uas.saw("recv INVITE") == 40 and uas.saw("recv BYE") == 40
    assert result.latency is not None and result.latency.count == 40


# --------------------------------------------------------------------------- media


@pytest.mark.slow
@pytest.mark.parametrize(
    ("codec", "ptime", "law", "pt"),
    [
        ("pcmu", 20, "mu-law", 0),
        ("pcmu", 30, "mu-law", 0),
        ("pcma", 20, "a-law", 8),
        ("pcma", 30, "a-law", 8),
    ],
)
def test_uac_pcap(tmp_path: Path, codec: str, ptime: int, law: str, pt: int) -> None:
    audio = g711(tmp_path, law, 1.0)
    pcap = tmp_path / "audio.pcap"
    count = write_rtp_pcap(pcap, audio, payload_type=pt, ptime_ms=ptime)
    with FakeUas() as uas:
        result = run(
            f"uac_pcap_{codec}_{ptime}", uas, keys={"pcap": str(pcap)}, call_length_ms=1500
        )
    assert result.ok, result.explain()
    packets = list(uas.rtp)
    assert len(packets) == count
    assert {p.payload_type for p in packets} == {pt}
    assert {len(p.payload) for p in packets} == {8 * ptime}
    assert b"".join(p.payload for p in packets) == audio[: count * 8 * ptime]
    assert spacing_ms(packets) == pytest.approx(ptime, abs=3)
    assert {p.source for p in packets} == {("127.0.0.1", result.media_port)}


@pytest.mark.slow
def test_uac_pcap_pcma_30_with_the_shipped_capture() -> None:
    with FakeUas() as uas:
        result = run(
            "uac_pcap_pcma_30",
            uas,
            keys={"pcap": str(SIP_TESTER / "g711a.pcap")},
            call_length_ms=7500,
        )
    assert result.ok, result.explain()
    assert len(uas.rtp) == 236
    assert {(p.payload_type, len(p.payload)) for p in uas.rtp} == {(8, 240)}


def test_uac_dtmf() -> None:
    with FakeUas() as uas:
        result = run("uac_dtmf", uas)
    assert result.ok, result.explain()
    events = [struct.unpack("!BBH", p.payload[:4]) for p in uas.rtp]
    assert {p.payload_type for p in uas.rtp} == {101}
    assert len(events) == 10
    assert {event for event, _, _ in events} == {1}
    ends = [flags & 0x80 for _, flags, _ in events]
    assert ends == [0] * 7 + [0x80] * 3
    assert [duration for _, _, duration in events] == [*range(0, 2240, 320), 2240, 2240, 2240]
    assert uas.rtp[0].marker


@pytest.mark.slow
def test_uac_stop_rtp(tmp_path: Path) -> None:
    audio = g711(tmp_path, "mu-law", 0.6)
    pcap = tmp_path / "audio.pcap"
    count = write_rtp_pcap(pcap, audio, payload_type=0, ptime_ms=20)
    with FakeUas(UasBehaviour(bye_after_s=2.0)) as uas:
        result = run("uac_stop_rtp", uas, keys={"pcap": str(pcap)})
    assert result.ok, result.explain()
    assert len(uas.rtp) == count
    # silence for more than a second before the far end hung up
    assert uas.first("sent BYE") - uas.rtp[-1].at > 1.0
    assert uas.saw("recv 200 BYE") == 1


@pytest.mark.slow
def test_uac_hold(tmp_path: Path) -> None:
    audio = g711(tmp_path, "mu-law", 0.5)
    pcap = tmp_path / "audio.pcap"
    count = write_rtp_pcap(pcap, audio, payload_type=0, ptime_ms=20)
    with FakeUas() as uas:
        result = run(
            "uac_hold",
            uas,
            keys={"pcap": str(pcap)},
            variables={"talk_ms": "900"},
            call_length_ms=1000,
        )
    assert result.ok, result.explain()
    assert uas.saw("hold sendonly") == 1
    assert len(uas.rtp) == count
    hold = uas.first("hold sendonly")
    assert all(p.at < hold for p in uas.rtp)  # no RTP while on hold
    assert uas.first("recv BYE") - hold >= 0.9  # stayed on hold for -d
    assert set(result.rtd_ms) == {"1", "2"}  # INVITE→200 and re-INVITE→200


@pytest.mark.slow
def test_uac_hold_fails_when_the_far_end_hangs_up_during_hold(tmp_path: Path) -> None:
    audio = g711(tmp_path, "mu-law", 0.2)
    pcap = tmp_path / "audio.pcap"
    write_rtp_pcap(pcap, audio, payload_type=0, ptime_ms=20)
    with FakeUas(UasBehaviour(bye_after_s=0.8)) as uas:
        result = run(
            "uac_hold",
            uas,
            keys={"pcap": str(pcap)},
            variables={"talk_ms": "300"},
            call_length_ms=2000,
        )
    assert not result.ok and result.failed_calls == 1
    assert result.unexpected_messages == 1


def test_a_missing_key_is_an_error_not_a_silent_run() -> None:
    from tests.support.sipp import SippError

    with FakeUas() as uas, pytest.raises(SippError, match="keyword"):
        run("uac_stop_rtp", uas, timeout_s=5)
