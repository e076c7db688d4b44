"""The keyturn_ metrics of one process counted in plain numbers and turned
into Prometheus samples only when ``/metrics`` is read.

prometheus-client takes a lock for every increment (four or five per
request); here one request costs a few dictionary updates. The exposition
is the one prometheus-client's own ``Counter`` and ``Histogram`` give: the
same families, in the same order, with the same samples (``_created``
included). Everything runs on the event loop's thread, so no lock is needed.
With several workers the counts must reach the shared directory as they
happen, so ``keyturn.http.metrics`` keeps prometheus-client's objects then.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence

from prometheus_client import metrics as client_metrics
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


def _created() -> bool:
    # prometheus-client's own switch (PROMETHEUS_DISABLE_CREATED_SERIES).
    return bool(getattr(client_metrics, "_use_created", True))


class Counts:
    """One labelled counter family: label values → [count, created]."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.values: dict[tuple[str, ...], list[float]] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        value = self.values.get(key)
        if value is None:
            value = self.values[key] = [0.0, time.time()]
        value[0] += amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        created = _created()
        for key, (count, since) in self.values.items():
            family.add_metric(list(key), count, created=since if created else None)
        return family


class Latency:
    """One labelled histogram family: label values → [bucket counts..., sum, created]."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.bounds = [*buckets, float("inf")]
        self.values: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        value = self.values.get(key)
        if value is None:
            value = self.values[key] = [0.0] * len(self.bounds) + [0.0, time.time()]
        # The first bucket whose bound is >= the value, as prometheus-client counts.
        value[bisect.bisect_left(self.bounds, seconds)] += 1
        value[-2] += seconds

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        created = _created()
        n = len(self.bounds)
        for key, value in self.values.items():
            running, buckets = 0.0, []
            for bound, count in zip(self.bounds, value[:n], strict=True):
                running += count
                buckets.append((floatToGoString(bound), running))  # type: ignore[no-untyped-call]
            family.add_metric(list(key), buckets, value[n])
            if created:
                family.add_sample(self.name + "_created", dict(zip(self.labels, key, strict=True)), value[n + 1])
        return family


class Tally(Collector):
    """The families, exported in the order they were made."""

    def __init__(self, families: Sequence[Counts | Latency]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.family()
