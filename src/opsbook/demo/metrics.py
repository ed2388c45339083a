"""Prometheus text exposition for the demo service, by hand (no prometheus_client needed)."""

from __future__ import annotations

import threading
from collections import Counter

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (method, path, status)
        self.bucket_counts = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, path, str(status))] += 1
            self.count += 1
            self.total += seconds
            for i, le in enumerate(BUCKETS):
                if seconds <= le:
                    self.bucket_counts[i] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP http_requests_total HTTP requests by method, path and status code.",
                "# TYPE http_requests_total counter",
            ]
            for (method, path, status), n in sorted(self.requests.items()):
                lines.append(
                    f'http_requests_total{{method="{method}",path="{_esc(path)}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP http_request_duration_seconds HTTP request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            for le, n in zip(BUCKETS, self.bucket_counts, strict=True):
                lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {n}')
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum {self.total:.6f}")
            lines.append(f"http_request_duration_seconds_count {self.count}")
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
