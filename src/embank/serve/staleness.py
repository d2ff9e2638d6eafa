"""Staleness gauges for ``/metrics``, computed when Prometheus scrapes (five small registry
queries for every table together: :mod:`embank.store.freshness`).

- ``embank_table_age_seconds{table}``: seconds since the version ``latest`` names was
  published; alert when it passes the table's refresh interval.
- ``embank_table_last_refresh{table,outcome}``: 1 for the outcome of the table's last
  refresh (``published``, ``unchanged``, ``gate_failed``, ..., ``unknown`` when it never
  ran), so ``embank_table_last_refresh{outcome="gate_failed"} == 1`` is an alert.
- ``embank_table_last_refresh_timestamp_seconds{table}``: when that refresh finished (only
  for tables with a recorded refresh).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from embank.serve.service import Service
from embank.store.freshness import freshness

__all__ = ["StalenessCollector", "staleness_registry"]

log = logging.getLogger(__name__)


class StalenessCollector(Collector):
    """Yields the gauges above from the service's bank, read at each scrape."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        try:
            known = freshness(self.service.bank)
        except Exception as exc:  # a scrape must still answer the request metrics
            log.warning("staleness gauges skipped: the registry did not answer (%s)", exc)
            return
        age = GaugeMetricFamily(
            "embank_table_age_seconds",
            "Seconds since the table's latest version was published.",
            labels=["table"],
        )
        last = GaugeMetricFamily(
            "embank_table_last_refresh",
            "1 for the outcome of the table's last refresh (published, unchanged, "
            "gate_failed, ..., unknown when none is recorded).",
            labels=["table", "outcome"],
        )
        finished = GaugeMetricFamily(
            "embank_table_last_refresh_timestamp_seconds",
            "Unix time at which the table's last recorded refresh finished.",
            labels=["table"],
        )
        for name, fresh in sorted(known.items()):
            age_s = fresh.age_s()
            if age_s is not None:
                age.add_metric([name], age_s)
            last.add_metric([name, fresh.last_refresh.outcome], 1.0)
            if fresh.last_refresh.at is not None:
                finished.add_metric([name], fresh.last_refresh.at.timestamp())
        yield from (age, last, finished)


def staleness_registry(service: Service) -> CollectorRegistry:
    """A registry holding only the staleness gauges (the request metrics live apart)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StalenessCollector(service))
    return registry
