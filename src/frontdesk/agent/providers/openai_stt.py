"""`OpenAISTT`: the openai plugin's STT, closing everything it opened.

Owns: one fix over livekit-plugins-openai 1.8.9, whose `STT.aclose` closes its websocket
pool but not the HTTP client it made for itself: each call's STT would leave its
keep-alive sockets open. Must not: change how the plugin transcribes.
"""

from __future__ import annotations

from livekit.plugins import openai


class OpenAISTT(openai.STT):
    async def aclose(self) -> None:
        await super().aclose()
        await self._client.close()
