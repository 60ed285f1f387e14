"""Opening LiveKit's server API (Twirp over HTTP) and mapping its failures to ours.

Owns: the credentials check (`LiveKitCredentials.from_settings`), one `LiveKitAPI` per use
with region failover off, and `LiveKitError`, which carries LiveKit's own code and message
so an operator sees what the server said.

Failover is off on purpose: livekit-api's failover asks `/settings/regions` for other
regions on any 5xx and replays there. That is for LiveKit Cloud; a self-hosted server (the
operator's) has one origin, and a retried create could double a trunk.

Must not: decide what to write (sync does) or hold a session beyond one `open_api` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from livekit import api

from frontdesk.config import Settings
from frontdesk.errors import ConfigError, FrontdeskError

_TIMEOUT_S = 10.0


class LiveKitError(FrontdeskError):
    """LiveKit refused a request or could not be reached; the message carries LiveKit's."""

    def __init__(self, message: str, code: str = "unavailable") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class LiveKitCredentials:
    url: str
    api_key: str
    api_secret: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveKitCredentials:
        missing = [
            name
            for name, value in (
                ("FRONTDESK_LIVEKIT_URL", settings.livekit_url),
                ("FRONTDESK_LIVEKIT_API_KEY", settings.livekit_api_key),
                ("FRONTDESK_LIVEKIT_API_SECRET", settings.livekit_api_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"the LiveKit front needs {', '.join(missing)}")
        assert settings.livekit_url and settings.livekit_api_key and settings.livekit_api_secret
        return cls(
            settings.livekit_url,
            settings.livekit_api_key,
            settings.livekit_api_secret.get_secret_value(),
        )

    def __repr__(self) -> str:  # never print the secret
        return f"LiveKitCredentials(url={self.url!r}, api_key={self.api_key!r})"


def livekit_error(action: str, exc: BaseException) -> LiveKitError:
    """`exc` from livekit-api or aiohttp as one error naming what we were doing."""
    if isinstance(exc, api.TwirpError):
        return LiveKitError(f"LiveKit refused to {action}: {exc.message} ({exc.code})", exc.code)
    return LiveKitError(f"LiveKit could not be reached to {action}: {exc!r}")


LIVEKIT_ERRORS = (api.TwirpError, aiohttp.ClientError, TimeoutError)


@asynccontextmanager
async def open_api(credentials: LiveKitCredentials) -> AsyncIterator[api.LiveKitAPI]:
    """A LiveKitAPI on its own HTTP session, closed on exit."""
    timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        lkapi = api.LiveKitAPI(
            credentials.url,
            credentials.api_key,
            credentials.api_secret,
            session=session,
            failover=False,
        )
        try:
            yield lkapi
        finally:
            await lkapi.aclose()
