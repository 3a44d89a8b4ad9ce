"""The server's Prometheus metrics, in the text exposition format (no client library needed).

Contract: ``Metrics`` is thread-safe. ``request(route, status, seconds)`` counts an HTTP request and its
latency; ``turn(spec, seconds, tokens, decode_s)`` a finished agent turn and the tokens its model
decoded; ``rejected(reason)`` a request turned away (``queue_full``, ``rate_limited``);
``render(gauges)`` gives the exposition text with the current gauges (queue depth, busy workers).
"""
from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]

# Latency buckets in seconds: a model turn on a CPU takes from tens of milliseconds to tens of seconds.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self._turns: dict[str, _Histogram] = defaultdict(_Histogram)
        self._tokens: dict[str, int] = defaultdict(int)
        self._decode_s: dict[str, float] = defaultdict(float)
        self._rejected: dict[str, int] = defaultdict(int)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._latency[route].observe(seconds)

    def turn(self, spec: str, seconds: float, tokens: int, decode_s: float) -> None:
        with self._lock:
            self._turns[spec].observe(seconds)
            self._tokens[spec] += tokens
            self._decode_s[spec] += decode_s

    def rejected(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1

    def render(self, gauges: dict[str, float]) -> str:
        lines: list[str] = []
        with self._lock:
            lines += ["# HELP agentspec_http_requests_total HTTP requests by method, route and status.",
                      "# TYPE agentspec_http_requests_total counter"]
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f"agentspec_http_requests_total{_labels(method=method, route=route, status=str(status))} {n}")
            lines += _histogram("agentspec_http_request_seconds", "HTTP request latency by route.", "route", self._latency)
            lines += _histogram("agentspec_turn_seconds", "Agent turn latency by spec.", "spec", self._turns)
            lines += ["# HELP agentspec_decoded_tokens_total Tokens the models decoded, by spec.",
                      "# TYPE agentspec_decoded_tokens_total counter"]
            lines += [f"agentspec_decoded_tokens_total{_labels(spec=s)} {n}" for s, n in sorted(self._tokens.items())]
            lines += ["# HELP agentspec_tokens_per_second Decoded tokens per second of decoding, by spec.",
                      "# TYPE agentspec_tokens_per_second gauge"]
            lines += [f"agentspec_tokens_per_second{_labels(spec=s)} {self._tokens[s] / d:.3f}"
                      for s, d in sorted(self._decode_s.items()) if d > 0]
            lines += ["# HELP agentspec_rejected_total Requests turned away, by reason.",
                      "# TYPE agentspec_rejected_total counter"]
            lines += [f"agentspec_rejected_total{_labels(reason=r)} {n}" for r, n in sorted(self._rejected.items())]
        for name, value in sorted(gauges.items()):
            lines += [f"# TYPE agentspec_{name} gauge", f"agentspec_{name} {value}"]
        return "\n".join(lines) + "\n"


def _histogram(name: str, help_text: str, label: str, series: dict[str, _Histogram]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for key, h in sorted(series.items()):
        for bound, count in zip(BUCKETS, h.counts):
            lines.append(f"{name}_bucket{_labels(**{label: key, 'le': str(bound)})} {count}")
        lines.append(f"{name}_bucket{_labels(**{label: key, 'le': '+Inf'})} {h.total}")
        lines.append(f"{name}_sum{_labels(**{label: key})} {h.sum:.6f}")
        lines.append(f"{name}_count{_labels(**{label: key})} {h.total}")
    return lines
