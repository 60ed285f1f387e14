"""The node's Prometheus metrics, read from the live objects at scrape time.

Owns: one `CollectorRegistry` per node (not the global one, so several nodes can live in
one test process) with a collector that reads the edge's and admission's own counters
when scraped (nothing to keep in sync, nothing that can drift), and the setup-latency
histogram the edge feeds.

    frontdesk_active_calls{org,number}           calls live on this node
    frontdesk_call_attempts_total{outcome,reason} every attempt by how it ended or why refused
    frontdesk_call_setup_seconds                  INVITE received -> 200 OK sent
    frontdesk_media_timeouts_total                calls ended because RTP stopped
    frontdesk_reaped_calls_total                  slots of dead nodes (or our last run) freed
    frontdesk_stranger_packets_total{kind}        SIP packets and TCP connections from
                                                  strangers, RTP from unannounced sources
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from frontdesk.edge.server import EdgeServer
    from frontdesk.store.admission import Admission

_SETUP_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.setup = Histogram(
            "frontdesk_call_setup_seconds",
            "INVITE received to 200 OK sent",
            buckets=_SETUP_BUCKETS,
            registry=self.registry,
        )

    def observe_setup(self, seconds: float) -> None:
        self.setup.observe(seconds)

    def watch(self, edge: EdgeServer, admission: Admission | None = None) -> None:
        self.registry.register(_NodeCollector(edge, admission))


class _NodeCollector(Collector):
    def __init__(self, edge: EdgeServer, admission: Admission | None) -> None:
        self._edge = edge
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        edge = self._edge
        active = GaugeMetricFamily(
            "frontdesk_active_calls", "Calls live on this node", labels=["org", "number"]
        )
        live: Counter[tuple[str, str]] = Counter()
        for call in list(edge.calls.values()):
            route = call.admitted.route
            if route is not None:
                live[(route.entry.org_slug, route.entry.phone_number)] += 1
            else:
                live[("", call.facts.called)] += 1
        for (org, number), count in live.items():
            active.add_metric([org, number], count)
        yield active
        attempts = CounterMetricFamily(
            "frontdesk_call_attempts", "Call attempts by outcome and reason",
            labels=["outcome", "reason"],
        )  # fmt: skip
        for (outcome, reason), count in edge.attempts.items():
            attempts.add_metric([outcome, reason], count)
        yield attempts
        yield CounterMetricFamily(
            "frontdesk_media_timeouts", "Calls ended because RTP stopped",
            value=edge.stats.media_timeouts,
        )  # fmt: skip
        reaped = self._admission.reaped if self._admission is not None else 0
        yield CounterMetricFamily(
            "frontdesk_reaped_calls", "Slots of dead nodes freed by this node", value=reaped
        )
        strangers = CounterMetricFamily(
            "frontdesk_stranger_packets", "Packets from addresses we do not answer",
            labels=["kind"],
        )  # fmt: skip
        strangers.add_metric(["sip"], edge.stats.stranger_sip)
        rtp = edge.stats.rtp_rejected + sum(c.rtp_rejected for c in list(edge.calls.values()))
        strangers.add_metric(["rtp"], rtp)
        yield strangers
