"""Is what the caller said over the agent an interruption, or only a backchannel?

Owns: `is_backchannel(text)`, the decision (pure: text in, bool out) that lets the agent
talk on when the caller, while it speaks, only acknowledges ("mm-hmm", "yeah", "okay"),
coughs or breathes (whisper writes nothing, or a sound in brackets: "[coughs]", "(sighs)",
"*cough*"). Two words or more with any other word ("wait, stop", a question) interrupt. One
word alone interrupts only when it is a word people stop a speaker with ("stop", "wait",
"no", "sorry", "hello", "aspetta", "scusi", …): a lone other word is most often whisper's
mishearing of a short acknowledgement (piper's "Yeah." over the G.711 line has come out as
"Up."), the same reason livekit-agents has `min_interruption_words`.

How it is used: the session pauses the agent's audio as soon as the caller's voice lasts
`min_duration` (so a real interruption stops it at once); when the caller's words arrive,
the receptionist's `stt_node` drops a backchannel said over the agent, so the framework
sees no words and resumes the agent where it paused (its false-interruption resume).

The framework resumes a paused agent a fixed time after the caller's voice ends, which on
a busy machine can come before whisper has the words: "wait, stop" would let the agent
talk on for a moment. `Transcribing` closes that gap: the receptionist's `stt_node` marks
the caller's speech as being transcribed from its start until its words (or nothing) are
known, and the audio output holds a resume until then.

Must not: decide anything when the agent is silent: then "yeah" is an answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["Transcribing", "is_backchannel"]

_ACKNOWLEDGEMENTS = frozenset(
    {
        "mm", "mmm", "mhm", "mmhmm", "mmhm", "hm", "hmm", "uhhuh", "uh", "um", "ah",
        "aha", "oh", "ooh", "ow", "ok", "okay", "yeah", "yes", "yep", "yup", "right", "sure",
        "alright", "i see", "got it", "cool", "fine", "great", "good",
        "sì", "si", "certo", "esatto", "va bene", "vabbè", "capito", "perfetto", "giusto",
    }
)  # fmt: skip
#: the one-word interruptions (English and Italian); any other lone word is no interruption
_STOP_WORDS = frozenset(
    {
        "stop", "wait", "no", "nope", "sorry", "hello", "hey", "hold", "excuse", "pardon",
        "what", "help", "operator", "actually", "but",
        "aspetta", "aspetti", "basta", "scusi", "scusa", "pronto", "ferma", "fermo", "senta",
        "ma", "allora",
    }
)  # fmt: skip
# ("ow": whisper tiny's hearing of a piper "uh-huh")
_SOUND = re.compile(r"^[\[(*].*[\])*]$")  # whisper's "[coughs]", "(sighs)", "*cough*"
_LETTERS = re.compile(r"[^\w ]|[\d_]")  # keeps letters (also "sì") and spaces


def is_backchannel(text: str) -> bool:
    """True for an acknowledgement or a non-speech sound; False for anything else."""
    said = text.strip().lower()
    if not said or _SOUND.match(said):
        return True
    # "Mm-hmm." → "mmhmm"; "Okay, okay." → two acknowledgements
    phrases = [_LETTERS.sub("", p).strip() for p in re.split(r"[.,!?;]+", said)]
    phrases = [p for p in phrases if p]
    if not phrases:
        return True  # punctuation only
    words = " ".join(phrases).split()
    if len(words) == 1:
        return words[0] not in _STOP_WORDS
    for phrase in phrases:
        if phrase in _ACKNOWLEDGEMENTS or phrase.replace(" ", "") in _ACKNOWLEDGEMENTS:
            continue
        if not all(word in _ACKNOWLEDGEMENTS for word in phrase.split()):
            return False
    return True


class Transcribing:
    """Is the caller's latest speech still being transcribed? Shared by one call's
    receptionist (which knows) and audio output (which holds a resume until it is done)."""

    def __init__(self) -> None:
        self.pending = False
        self._then: list[Callable[[], None]] = []

    def started(self) -> None:
        self.pending = True

    def finished(self) -> None:
        self.pending = False
        waiting, self._then = self._then, []
        for action in waiting:
            action()

    def when_finished(self, action: Callable[[], None]) -> None:
        """Run `action` once the words are known (now, when nothing is pending)."""
        if self.pending:
            self._then.append(action)
        else:
            action()

    def forget(self, action: Callable[[], None]) -> None:
        self._then = [a for a in self._then if a != action]
