"""The PBX allowlist: may a datagram from this address be looked at?

Owns: the decision, as pure code over `ipaddress` networks, with a per-address cache so
the hot path is one dict lookup. Must not: parse packets; it sees only the source
address, before anything else is read (DESIGN §1: strangers are never parsed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_CACHE_LIMIT = 4096


class Allowlist:
    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        verdict = self._cache.get(host)
        if verdict is None:
            verdict = self._check(host)
            if len(self._cache) >= _CACHE_LIMIT:  # strangers may vary their address
                self._cache.clear()
            self._cache[host] = verdict
        return verdict

    def _check(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)
