"""G.711 μ-law and A-law against 16-bit PCM."""

from __future__ import annotations

import math
import struct

import pytest

from frontdesk.errors import MediaError
from frontdesk.media import g711


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_silence_payload_decodes_to_zero(codec: g711.Codec) -> None:
    payload = g711.silence_payload(codec, 160)
    assert len(payload) == 160
    assert g711.encode(codec, bytes(320)) == payload
    decoded = struct.unpack("<160h", g711.decode(codec, payload))
    # A-law has no code for 0: its silence is the smallest step, +8 (-42 dBm0 below 1 LSB
    # of 13-bit A-law); μ-law decodes to exactly 0
    assert set(decoded) == ({0} if codec == "PCMU" else {8})


def test_known_codes() -> None:
    assert g711.silence_payload("PCMU", 1) == b"\xff"
    assert g711.silence_payload("PCMA", 1) == b"\xd5"
    # the loudest codes: μ-law 0x80 is -32124, A-law 0xaa is +32256
    assert struct.unpack("<h", g711.decode("PCMU", b"\x80"))[0] == 32124
    assert struct.unpack("<h", g711.decode("PCMA", b"\xaa"))[0] == 32256


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_every_code_survives_decode_and_encode(codec: g711.Codec) -> None:
    codes = bytes(range(256))
    again = g711.encode(codec, g711.decode(codec, codes))
    if codec == "PCMU":
        # μ-law has two zeros (0x7f, 0xff); both decode to 0, which encodes as 0xff
        assert again == codes.replace(b"\x7f", b"\xff")
    else:
        assert again == codes


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_sine_quantisation_error_is_small(codec: g711.Codec) -> None:
    samples = [round(12000 * math.sin(2 * math.pi * 1000 * n / 8000)) for n in range(160)]
    pcm = struct.pack("<160h", *samples)
    payload = g711.encode(codec, pcm)
    assert len(payload) == 160
    decoded = struct.unpack("<160h", g711.decode(codec, payload))
    assert max(abs(a - b) for a, b in zip(samples, decoded, strict=True)) < 12000 / 16


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(MediaError):
        g711.encode("PCMU", b"\x00\x00\x00")


def test_codec_names_and_payload_types() -> None:
    assert g711.parse_codec("pcmu") == "PCMU"
    assert g711.parse_codec("PCMA") == "PCMA"
    with pytest.raises(MediaError):
        g711.parse_codec("G722")
    assert g711.payload_type_of("PCMU") == g711.PCMU_PT == 0
    assert g711.payload_type_of("PCMA") == g711.PCMA_PT == 8
    assert g711.codec_for_payload_type(0) == "PCMU"
    assert g711.codec_for_payload_type(8) == "PCMA"
    with pytest.raises(MediaError):
        g711.codec_for_payload_type(9)
