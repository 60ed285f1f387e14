"""The sipp runner's pure parts: its readers, over files a real sipp 3.6.1 run left behind
(tests/data/sipp/captured: 20 uac_busy calls against a UAS answering 486 after 50 ms),
its percentiles, and the RTP captures it writes for play_pcap_audio."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest
from tests.support.sipp import (
    free_port,
    free_rtp_port,
    latency_stats,
    parse_counts_csv,
    parse_rtt_csv,
    parse_stat_csv,
    percentile,
    write_rtp_pcap,
)

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "sipp" / "captured"


def test_stat_file_last_row_by_column() -> None:
    stats = parse_stat_csv((CAPTURED / "uac_busy_20_stat.csv").read_text())
    assert stats["TotalCallCreated"] == "20"
    assert stats["SuccessfulCall(C)"] == "20"
    assert stats["FailedCall(C)"] == "0"
    assert stats["Retransmissions(C)"] == "0"
    assert stats["FailedUnexpectedMessage(C)"] == "0"
    # dates are "date<TAB>time<TAB>epoch"
    assert len(stats["StartTime"].split("\t")) == 3


def test_stat_file_without_data_row() -> None:
    header = (CAPTURED / "uac_busy_20_stat.csv").read_text().splitlines()[0]
    with pytest.raises(ValueError, match="no data row"):
        parse_stat_csv(header + "\n")


def test_rtt_file() -> None:
    measures = parse_rtt_csv((CAPTURED / "uac_busy_20_rtt.csv").read_text())
    assert list(measures) == ["1"]
    samples = measures["1"]
    assert len(samples) == 20
    # the UAS waited 50 ms; sipp's clock moves in ~4 ms steps
    assert all(44 <= s <= 80 for s in samples), samples
    stats = latency_stats(samples)
    assert 48 <= stats.p50_ms <= 60
    assert stats.p99_ms == max(samples)


def test_rtt_file_with_several_measures() -> None:
    text = "Date_ms;response_time_ms;rtd_no\n1.0;4;1\n2.0;8;2\n3.0;12;1\n"
    assert parse_rtt_csv(text) == {"1": (4.0, 12.0), "2": (8.0,)}


@pytest.mark.parametrize(
    "text", ["", "call_id;rtd;ms\n1;2;3\n", "Date_ms;response_time_ms;rtd_no\n1.0;4\n"]
)
def test_rtt_file_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rtt_csv(text)


def test_counts_file() -> None:
    counts = parse_counts_csv((CAPTURED / "uac_busy_20_counts.csv").read_text())
    assert counts["0_INVITE_Sent"] == 20
    assert counts["4_486_Recv"] == 20
    assert counts["5_ACK_Sent"] == 20
    assert sum(v for k, v in counts.items() if k.endswith("_Unexp")) == 0
    assert "CurrentTime" not in counts  # not a counter


def test_percentile_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile([7.0], 1) == 7
    assert percentile([1.0, 2.0], 50) == 1
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_latency_stats() -> None:
    stats = latency_stats([4.0, 0.0, 8.0, 0.0])
    assert (stats.count, stats.mean_ms, stats.p50_ms, stats.max_ms) == (4, 3.0, 0.0, 8.0)


def _read_pcap(path: Path) -> tuple[int, list[tuple[float, bytes]]]:
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4
    packets = []
    offset = 24
    while offset < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[offset : offset + 16])
        assert incl == orig
        packets.append((sec + usec / 1e6, data[offset + 16 : offset + 16 + incl]))
        offset += 16 + incl
    return linktype, packets


@pytest.mark.parametrize(("ptime", "pt"), [(20, 0), (30, 8)])
def test_write_rtp_pcap(tmp_path: Path, ptime: int, pt: int) -> None:
    audio = bytes(range(256)) * 10  # 2560 bytes
    path = tmp_path / "a.pcap"
    chunk = 8 * ptime
    count = write_rtp_pcap(path, audio, payload_type=pt, ptime_ms=ptime)
    assert count == len(audio) // chunk
    linktype, packets = _read_pcap(path)
    assert linktype == 1  # Ethernet, like /usr/share/sip-tester/*.pcap
    assert len(packets) == count
    payload = b""
    for index, (at, frame) in enumerate(packets):
        assert at == pytest.approx(index * ptime / 1000)
        assert frame[12:14] == b"\x08\x00"  # IPv4
        ip_header = frame[14:34]
        assert ip_header[9] == 17  # UDP
        # a valid IPv4 header sums to 0xFFFF
        total = sum(struct.unpack("!10H", ip_header))
        assert (total & 0xFFFF) + (total >> 16) == 0xFFFF
        rtp = frame[42:]
        version, mpt, seq, ts, _ssrc = struct.unpack("!BBHII", rtp[:12])
        assert version == 0x80
        assert mpt & 0x7F == pt and bool(mpt & 0x80) == (index == 0)
        assert (seq, ts) == (index, index * chunk)
        assert len(rtp) - 12 == chunk
        payload += rtp[12:]
    assert payload == audio[: count * chunk]


def test_write_rtp_pcap_refuses_too_little_audio(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shorter than one"):
        write_rtp_pcap(tmp_path / "a.pcap", b"\xff" * 100, payload_type=0, ptime_ms=20)


def test_free_ports_are_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
    base = free_rtp_port()
    assert base % 2 == 0
