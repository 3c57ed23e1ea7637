"""Prometheus metrics: HTTP requests by route template, and what the scans did.

`MetricsMiddleware` is plain ASGI (not `BaseHTTPMiddleware`), so streamed bodies pass
through untouched; a request's latency runs until its last body chunk is sent. Routes
are labelled by template (`/v1/users/{id}/stats`), unmatched paths as `unmatched`, so
the label set stays small. Scan figures are read from `scan_runs` at scrape time.
"""

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.stats import ScanRunRow, ScanTotals

__all__ = ["CONTENT_TYPE", "HttpMetrics", "MetricsMiddleware", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("running", "done", "partial", "failed")


class HttpMetrics:
    """The per-app registry (one per app, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "starledger_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "starledger_http_request_duration_seconds",
            "Time from request to last body byte.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class _ScanCollector(Collector):
    def __init__(
        self, last: ScanRunRow | None, last_done: ScanRunRow | None, totals: ScanTotals
    ) -> None:
        self.last, self.last_done, self.totals = last, last_done, totals

    def collect(self) -> Iterable[Metric]:
        started = GaugeMetricFamily(
            "starledger_last_scan_started_timestamp_seconds", "Start of the latest scan run."
        )
        status = GaugeMetricFamily(
            "starledger_last_scan_status", "1 for the latest scan run's status.", labels=["status"]
        )
        done = GaugeMetricFamily(
            "starledger_last_successful_scan_timestamp_seconds",
            "End of the latest scan run with status done.",
        )
        if self.last is not None:
            started.add_metric([], self.last.started_at.timestamp())
            for name in STATUSES:
                status.add_metric([name], 1.0 if self.last.status == name else 0.0)
        if self.last_done is not None:
            end = self.last_done.finished_at or self.last_done.started_at
            done.add_metric([], end.timestamp())
        runs = CounterMetricFamily("starledger_scan_runs", "Scan runs recorded.")
        runs.add_metric([], self.totals.runs)
        snapshots = CounterMetricFamily(
            "starledger_scan_snapshots", "Snapshots written by all scans."
        )
        snapshots.add_metric([], self.totals.snapshots)
        points = CounterMetricFamily(
            "starledger_scan_points", "GitHub rate-limit points spent by all scans."
        )
        points.add_metric([], self.totals.points)
        requests = CounterMetricFamily(
            "starledger_scan_requests", "GitHub requests made by all scans."
        )
        requests.add_metric([], self.totals.requests)
        yield from (started, status, done, runs, snapshots, points, requests)


def render_metrics(
    metrics: HttpMetrics,
    *,
    last: ScanRunRow | None,
    last_done: ScanRunRow | None,
    totals: ScanTotals,
) -> bytes:
    scans = CollectorRegistry()
    scans.register(_ScanCollector(last, last_done, totals))
    return generate_latest(metrics.registry) + generate_latest(scans)
