"""RecordingWriter: real Ogg Opus files from what the media clock hands over, crash included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import soundfile

from frontdesk.media import g711
from frontdesk.media.rtp import RtpSequencer
from frontdesk.recordings.retention import sweep
from frontdesk.recordings.writer import RecordingWriter, relative_path

RATE = 16000


def sine(freq: float, seconds: float, rate: int, amplitude: float = 8000) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def feed_call(writer: RecordingWriter, org: uuid.UUID, session: uuid.UUID, seconds: float) -> Path:
    """A PCMU call: the agent sends 440 Hz, the caller is heard at 1000 Hz, 20 ms a tick."""
    recording = writer.open(org, session, "PCMU", start=0.0)
    agent = sine(440, seconds, 8000)
    caller = sine(1000, seconds, RATE)
    sequencer = RtpSequencer(0)
    for k in range(round(seconds / 0.02)):
        now = (k + 1) * 0.02
        pcm = agent[k * 160 : (k + 1) * 160].tobytes()
        packet = sequencer.next_packet(g711.encode("PCMU", pcm), 160)
        recording.agent_sent(now, [packet])
        recording.caller_heard(now, [caller[k * 320 : (k + 1) * 320].tobytes()])
    recording.close()
    return recording.path


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


def test_a_call_becomes_a_stereo_ogg_opus_file_caller_left_agent_right(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, poll_s=0.02)
    writer.start()
    org, session = uuid.uuid4(), uuid.uuid4()
    path = feed_call(writer, org, session, 3.0)
    writer.stop()
    assert path == tmp_path / relative_path(org, session)
    info = soundfile.info(path)
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("OGG", "OPUS", 2, RATE)
    assert abs(info.duration - 3.0) < 0.1, info.duration
    audio, _ = soundfile.read(path, dtype="int16")
    middle = audio[RATE : 2 * RATE]
    assert abs(dominant_hz(middle[:, 0]) - 1000) < 10  # the caller, left
    assert abs(dominant_hz(middle[:, 1]) - 440) < 10  # the agent, right
    assert writer.written_files == 1 and writer.failures == 0


def test_queue_is_bounded_when_the_writer_is_not_draining(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, max_queued_s=0.1)  # ten items; never started
    recording = writer.open(uuid.uuid4(), uuid.uuid4(), "PCMU", start=0.0)
    for k in range(30):
        recording.caller_heard(k * 0.02, [bytes(640)])
    assert recording.dropped == 20


_CRASHING_WRITER = """
import sys, time, uuid
from pathlib import Path
import numpy as np
from frontdesk.recordings.writer import RecordingWriter
writer = RecordingWriter(Path(sys.argv[1]), poll_s=0.02, flush_every_s=0.5)
writer.start()
recording = writer.open(uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3]), "G722", start=0.0)
t = np.arange(320) / 16000
frame = (8000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2").tobytes()
k = 0
started = time.monotonic()
while True:  # real time, until killed
    k += 1
    recording.caller_heard(k * 0.02, [frame])
    if k == 150:
        print("3 s written", flush=True)
    time.sleep(max(0.0, started + k * 0.02 - time.monotonic()))
"""


def test_kill_9_of_the_writing_process_leaves_a_file_that_decodes(tmp_path: Path) -> None:
    org, session = uuid.uuid4(), uuid.uuid4()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(tmp_path), str(org), str(session)],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"3 s written"
        time.sleep(0.7)  # a flush since
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    path = tmp_path / relative_path(org, session)
    crashed = tmp_path / "copy.ogg"
    shutil.copy(path, crashed)
    audio, rate = soundfile.read(crashed, dtype="int16")  # no end of stream: still decodes
    assert rate == RATE and audio.shape[1] == 2
    assert len(audio) >= 2 * RATE, len(audio) / RATE
    assert abs(dominant_hz(audio[RATE : 2 * RATE, 0]) - 1000) < 10


def test_retention_deletes_only_old_recordings(tmp_path: Path) -> None:
    org = tmp_path / str(uuid.uuid4())
    org.mkdir()
    old, new, other = org / f"{uuid.uuid4()}.ogg", org / f"{uuid.uuid4()}.ogg", org / "notes.txt"
    for path in (old, new, other):
        path.write_bytes(b"x")
    now = time.time()
    os.utime(old, (now - 31 * 86400, now - 31 * 86400))
    os.utime(other, (now - 99 * 86400, now - 99 * 86400))
    assert sweep(tmp_path, 30, now) == 1
    assert not old.exists() and new.exists() and other.exists()
    new.unlink()
    other.unlink()
    assert sweep(tmp_path, 30, now) == 0
    assert not org.exists()  # an emptied organization folder goes too
    assert sweep(tmp_path / "missing", 30, now) == 0
