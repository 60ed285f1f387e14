"""The exception tree of frontdesk, in one place.

    FrontdeskError                 base of everything we raise on purpose
    ├── ConfigError                a setting is missing or wrong (start-up refuses to go on)
    ├── SipError
    │   ├── SipParseError          a message from the network is malformed; `.status` says
    │   │                          what to answer (400 by default, 420, 481, 488, 505, ...)
    │   └── SipStateError          a local mistake: an action the dialog/transaction state
    │                              does not allow (a bug on our side, never the peer's)
    ├── SdpError                   an SDP body is malformed (status 400) or has nothing we
    │                              can use (status 488)
    ├── MediaError
    │   └── RtpParseError          an RTP/RTCP packet is malformed (dropped, counted)
    ├── PortsExhausted             the RTP port range has no free pair left (answer 503)
    ├── InvalidNumber              a phone number that cannot be normalised to E.164 (nor is a
    │                              short extension); the message names the value
    ├── ConfigOverrideError        (frontdesk.tenancy.config) an override key or value is bad
    ├── NotFound                   an organization, number or user named in a request does
    │                              not exist
    ├── Conflict                   a write the data's rules refuse: a duplicate, a reference
    │                              still in use, or a value a constraint forbids
    └── StoreError                 the database layer failed
        ├── EmbeddedPostgresError  the embedded server could not be set up, started or stopped
        ├── MigrationError         migrations are missing, malformed, edited after being
        │                          applied, or one failed (its transaction was rolled back)
        └── DatabaseTimeout        the database did not answer within a deadline (also a
                                   `TimeoutError`); the work may still finish later

Remote errors (the peer sent something bad) carry the status we answer with, so the one
place that maps failures to SIP answers does not guess. Vendor exceptions are mapped to
these where they are caught (`raise Ours(...) from exc`).
"""

from __future__ import annotations


class FrontdeskError(Exception):
    """Base of every error frontdesk raises on purpose."""


class ConfigError(FrontdeskError):
    """A setting is missing or invalid."""


class SipError(FrontdeskError):
    """Something went wrong with SIP."""


class SipParseError(SipError):
    """A SIP message from the network is malformed.

    `status` is the response to send when the message is a request we can still answer
    (we could read enough of it to build a response); `reason` is its reason phrase.
    """

    def __init__(
        self,
        message: str,
        status: int = 400,
        reason: str = "Bad Request",
        partial: object | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        #: what could be read of the message (a `frontdesk.sip.message.Request` whose
        #: headers are enough to address a response), or None when nothing could be
        self.partial = partial


class SipStateError(SipError):
    """A local action that the current transaction or dialog state does not allow."""


class SdpError(FrontdeskError):
    """An SDP body is malformed (400) or offers nothing we can use (488)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class MediaError(FrontdeskError):
    """Media (RTP, codecs, audio) failed."""


class RtpParseError(MediaError):
    """An RTP or RTCP packet is malformed."""


class PortsExhausted(FrontdeskError):
    """No free RTP port is left in the configured range."""


class InvalidNumber(FrontdeskError):
    """A phone number that is neither E.164-normalisable nor a short extension."""

    def __init__(self, message: str, value: str) -> None:
        super().__init__(message)
        #: the refused input, as given
        self.value = value


class NotFound(FrontdeskError):
    """An organization, number or user named in a request does not exist."""


class Conflict(FrontdeskError):
    """A write refused by the data's rules: a duplicate, a reference in use, a bad value."""


class StoreError(FrontdeskError):
    """The database layer failed."""


class EmbeddedPostgresError(StoreError):
    """The embedded PostgreSQL server could not be initialised, started or stopped."""


class MigrationError(StoreError):
    """A migration is missing, malformed, changed after being applied, or failed."""


class DatabaseTimeout(StoreError, TimeoutError):
    """The database did not answer within a deadline (hung, partitioned or overloaded).

    The work was not cancelled (cancelling a query on a hung server waits for the server):
    it may still complete later, and whoever set the deadline deals with a late result.
    """
