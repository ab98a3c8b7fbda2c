"""Realistic application logs, generated with numpy and streamed as COPY text.

Rows are deterministic for (seed, rows, days, end): every random draw comes from a numpy
generator seeded with the seed (and the chunk number for per-chunk draws). Timestamps are
spread over the window with a day/night rhythm and emitted in time order, so `id` follows time
like a real append-only log table. About 1.5% of rows belong to incidents: bursts of rare or
error message formats on one service and mostly one host, labelled is_anomaly with anomaly_type.
1.5% of normal rows get a level drawn at random instead of their template's (about 1% end
up mislabelled, as in real logs), and some formats read like errors at INFO on purpose.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.dtypes import StringDType

from ingest.copy_stream import NULL
from ingest.generator_catalog import INCIDENTS, MESSAGES, SERVICES, Message

CHUNK_ROWS = 50_000
INCIDENT_SHARE = 0.015
MISLABEL_SHARE = 0.015
LEVELS = np.array(["DEBUG", "INFO", "WARN", "ERROR", "FATAL"], dtype=StringDType())
_LEVEL_INDEX = {str(level): i for i, level in enumerate(LEVELS)}
# Relative traffic per hour of the day (UTC): quiet nights, busy afternoons.
_DIURNAL = np.array(
    [3, 2, 2, 2, 2, 3, 4, 6, 8, 9, 10, 10, 10, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3], dtype=float
)
S = StringDType()
Draw = Callable[[np.random.Generator, int], np.ndarray]


def _pick(values: list[str], weights: list[float] | None = None) -> Draw:
    options = np.array(values, dtype=S)
    p = None if weights is None else np.asarray(weights) / np.sum(weights)
    return lambda rng, m: rng.choice(options, size=m, p=p)


def _ints(low: int, high: int) -> Draw:
    return lambda rng, m: rng.integers(low, high, m).astype(S)


def _prefixed(prefix: str, low: int, high: int) -> Draw:
    return lambda rng, m: np.strings.add(prefix, rng.integers(low, high, m).astype(S))


_HEX = np.array(list("0123456789abcdef"))


def _hex(rng: np.random.Generator, m: int) -> np.ndarray:
    return _HEX[rng.integers(0, 16, (m, 12))].view("<U12").reshape(m).astype(S)


def _ip(rng: np.random.Generator, m: int) -> np.ndarray:
    octets = rng.integers(1, 255, (m, 4)).astype(S)
    ip = octets[:, 0]
    for k in (1, 2, 3):
        ip = np.strings.add(np.strings.add(ip, "."), octets[:, k])
    return ip


def _amount(rng: np.random.Generator, m: int) -> np.ndarray:
    return np.round(rng.lognormal(3.5, 1.0, m), 2).astype(S)


_BASE_PATHS = _pick(
    [
        "/api/v1/orders/",
        "/api/v1/users/",
        "/api/v1/products/",
        "/api/v1/search",
        "/api/v1/cart",
        "/api/v1/checkout",
        "/api/v2/payments/",
        "/health",
        "/static/app.js",
        "/login",
        "/api/v1/recommendations",
        "/api/v1/inventory/",
    ],
    [14, 10, 16, 12, 8, 4, 4, 6, 10, 4, 6, 6],
)


def _path(rng: np.random.Generator, m: int) -> np.ndarray:
    base = _BASE_PATHS(rng, m)
    with_id = np.strings.add(base, rng.integers(1, 500_000, m).astype(S))
    return np.where(np.strings.endswith(base, "/"), with_id, base)


_USERS = [
    f"{first}.{last}"
    for first in (
        "anna",
        "ben",
        "chen",
        "dana",
        "eric",
        "fatima",
        "gus",
        "hana",
        "ivan",
        "jo",
        "kim",
        "lars",
        "maria",
        "nils",
        "olga",
        "pat",
    )
    for last in ("smith", "muller", "rossi", "garcia", "kowalski", "nguyen", "sato")
]

PLACEHOLDERS: dict[str, Draw] = {
    "ip": _ip,
    "user": _pick(_USERS),
    "uid": _ints(1000, 900_000),
    "method": _pick(["GET", "POST", "PUT", "DELETE", "PATCH"], [70, 18, 6, 3, 3]),
    "path": _path,
    "status2xx": _pick(["200", "201", "204", "301", "304"], [80, 6, 4, 2, 8]),
    "status4xx": _pick(["400", "401", "403", "404", "409", "429"], [15, 20, 10, 40, 5, 10]),
    "status5xx": _pick(["500", "502", "503", "504"], [30, 25, 25, 20]),
    "bytes": _ints(120, 250_000),
    "upstream": _pick(["orders-svc", "users-svc", "payments-svc", "search-svc", "redis", "kafka"]),
    "trace": _hex,
    "n": _ints(1, 400),
    "attempt": _ints(1, 6),
    "pct": _ints(70, 100),
    "delta": _pick(["-5", "-2", "-1", "+1", "+10", "+50"]),
    "key": lambda rng, m: np.strings.add(
        _prefixed("user:", 1000, 99_999)(rng, m),
        _pick([":profile", ":cart", ":prefs", ":session"])(rng, m),
    ),
    "table": _pick(["orders", "users", "payments", "products", "sessions", "stock_levels"]),
    "version": _pick(["1.14.2", "1.15.0", "2.0.3", "2.1.0-rc1"], [30, 50, 15, 5]),
    "method_auth": _pick(["password", "sso", "oauth-google", "api-key"], [50, 30, 15, 5]),
    "order": _prefixed("ORD-", 10_000_000, 99_999_999),
    "amount": _amount,
    "card": _ints(1000, 9999),
    "order_status": _pick(["PAID", "PACKED", "SHIPPED", "DELIVERED", "CANCELLED"]),
    "sku": _prefixed("SKU-", 10_000, 99_999),
    "query": _pick(
        [
            "running shoes",
            "usb-c cable",
            "coffee grinder",
            "winter jacket",
            "gift card",
            "desk lamp",
            "headphones",
            "yoga mat",
        ]
    ),
    "channel": _pick(["email", "sms", "push"], [60, 10, 30]),
    "queue": _pick(["notifications.high", "notifications.bulk", "events.orders"]),
    "cc": _pick(["1000", "2000", "3100"]),
    "carrier": _pick(["DHL", "UPS", "GLS", "DPD"]),
    "job": _pick(
        ["nightly-invoices", "sitemap-refresh", "stock-sync", "email-digest", "search-reindex"]
    ),
    "cache_state": _pick(["HIT", "MISS", "EXPIRED"], [75, 20, 5]),
    "pop": _pick(["fra1", "ams2", "lhr1", "iad3", "sin1"]),
}


@dataclass(frozen=True)
class _Compiled:
    """A message format split into literal text and placeholder names, ready for vector filling."""

    message: Message
    parts: tuple[tuple[str, str | None], ...]
    level: int
    anomaly_type: str | None

    @property
    def has_status(self) -> bool:
        return any(name and name.startswith("status") for _, name in self.parts)


def _compile(message: Message, anomaly_type: str | None) -> _Compiled:
    parts = tuple((lit, name) for lit, name, _, _ in string.Formatter().parse(message.text))
    return _Compiled(message, parts, _LEVEL_INDEX[message.level], anomaly_type)


_NORMAL = [_compile(m, None) for m in MESSAGES]
_INCIDENT_KINDS = list(INCIDENTS)
_INCIDENT_FORMATS = {
    kind: [_compile(m, kind) for m in formats] for kind, (_, formats) in INCIDENTS.items()
}
_SERVICE_NAMES = [s.name for s in SERVICES]
# COPY text of (source_type, host, service) for every host; host k of service s is at
# _HOST_OFFSET[s] + k.
_HOST_COLUMNS = np.array(
    [f"{s.source_type}\t{s.name}-{i + 1:02d}\t{s.name}" for s in SERVICES for i in range(s.hosts)],
    dtype=StringDType(),
)
_HOST_OFFSET = np.cumsum([0] + [s.hosts for s in SERVICES])[:-1]


def _service_formats(service: str) -> tuple[list[_Compiled], np.ndarray]:
    chosen = [c for c in _NORMAL if "*" in c.message.services or service in c.message.services]
    weights = np.array([c.message.weight for c in chosen])
    return chosen, weights / weights.sum()


_BY_SERVICE = [_service_formats(name) for name in _SERVICE_NAMES]


@dataclass(frozen=True)
class _Incident:
    kind: str
    service: int
    host: int
    start_ms: int
    duration_ms: int
    rows: int


@dataclass(frozen=True)
class GeneratorSpec:
    rows: int
    seed: int
    days: float = 7.0
    end: datetime | None = None  # default: now

    def window(self) -> tuple[int, int]:
        """(start, end) in epoch milliseconds."""
        end = self.end or datetime.now(UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        end_ms = int(end.timestamp() * 1000)
        return end_ms - int(timedelta(days=self.days).total_seconds() * 1000), end_ms


def _plan_incidents(spec: GeneratorSpec, rng: np.random.Generator, start: int, end: int):
    incident_rows = round(spec.rows * INCIDENT_SHARE)
    count = min(max(1, round(spec.days * 2)), incident_rows // 10)
    if count == 0:
        return []
    sizes = rng.multinomial(incident_rows, rng.dirichlet(np.ones(count)))
    incidents = []
    for size in sizes:
        kind = _INCIDENT_KINDS[rng.integers(len(_INCIDENT_KINDS))]
        service = _SERVICE_NAMES.index(str(rng.choice(INCIDENTS[kind][0])))
        duration = int(rng.integers(5, 90) * 60_000)
        begin = int(rng.integers(start, max(start + 1, end - duration)))
        host = int(rng.integers(SERVICES[service].hosts))
        incidents.append(_Incident(kind, service, host, begin, duration, int(size)))
    return incidents


def _timestamps(rng: np.random.Generator, count: int, start: int, end: int) -> np.ndarray:
    """`count` epoch-ms times in [start, end) with the diurnal rhythm (thinning)."""
    accept = _DIURNAL / _DIURNAL.max()
    kept: list[np.ndarray] = []
    have = 0
    while have < count:
        draw = rng.integers(start, end, max(1024, int((count - have) * 1.6)))
        hours = (draw // 3_600_000) % 24
        draw = draw[rng.random(draw.size) < accept[hours]]
        kept.append(draw)
        have += draw.size
    return np.concatenate(kept)[:count]


def _concat(parts: list) -> np.ndarray | str:
    """Concatenate string arrays/scalars element-wise, pairing neighbours so each byte is
    copied about log2(len(parts)) times instead of len(parts) times."""
    while len(parts) > 1:
        paired = [np.strings.add(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def _fill(compiled: _Compiled, rng: np.random.Generator, m: int, service: str, slow: bool):
    """(messages, COPY text of category..anomaly_type) for m rows of one template; either
    may be one str for all rows."""
    parts: list = []
    status = ms = None
    for literal, name in compiled.parts:
        if literal:
            parts.append(literal)
        if name is None:
            continue
        if name == "ms":
            scale = 8.0 if slow else 4.2
            ms = np.minimum(np.round(rng.lognormal(scale, 0.9, m)), 9_999_999).astype(np.int64)
            value = ms.astype(S)
        elif name == "service":
            value = np.full(m, service, dtype=S)
        else:
            value = PLACEHOLDERS[name](rng, m)
            if name.startswith("status"):
                status = value
        parts.append(value)
    message = _concat(parts)  # a plain str for formats without placeholders
    labels = f"{'t' if compiled.anomaly_type else 'f'}\t{compiled.anomaly_type or NULL}"
    category = compiled.message.category
    if compiled.has_status and status is not None:
        response = NULL if ms is None else ms.astype(S)
        tail = _concat([f"{category}\t", status, "\t", response, f"\t{labels}"])
    else:
        tail = f"{category}\t{NULL}\t{NULL}\t{labels}"
    return message, tail


def _chunk_lines(
    spec: GeneratorSpec,
    index: int,
    times: np.ndarray,
    incident_of: np.ndarray,
    incidents: list[_Incident],
) -> str:
    rng = np.random.default_rng([spec.seed, 1, index])
    m = times.size
    service = np.empty(m, dtype=np.int64)
    host = np.empty(m, dtype=np.int64)
    message = np.empty(m, dtype=S)
    level = np.empty(m, dtype=np.int64)
    tail = np.empty(m, dtype=S)  # category, http_status, response_time_ms, is_anomaly, type

    normal = incident_of < 0
    service[normal] = rng.choice(
        len(SERVICES), size=int(normal.sum()), p=[s.traffic for s in SERVICES]
    )
    groups: list[tuple[np.ndarray, _Compiled, int, bool]] = []
    for s, (formats, weights) in enumerate(_BY_SERVICE):
        rows = np.flatnonzero(normal & (service == s))
        host[rows] = rng.integers(SERVICES[s].hosts, size=rows.size)
        choice = rng.choice(len(formats), size=rows.size, p=weights)
        groups += [(rows[choice == t], c, s, False) for t, c in enumerate(formats)]
    for i, incident in enumerate(incidents):
        rows = np.flatnonzero(incident_of == i)
        if rows.size == 0:
            continue
        service[rows] = incident.service
        other = rng.integers(SERVICES[incident.service].hosts, size=rows.size)
        host[rows] = np.where(rng.random(rows.size) < 0.8, incident.host, other)
        formats = _INCIDENT_FORMATS[incident.kind]
        weights = np.array([c.message.weight for c in formats])
        choice = rng.choice(len(formats), size=rows.size, p=weights / weights.sum())
        groups += [(rows[choice == t], c, incident.service, True) for t, c in enumerate(formats)]

    for rows, compiled, s, in_incident in groups:
        if rows.size == 0:
            continue
        message[rows], tail[rows] = _fill(compiled, rng, rows.size, _SERVICE_NAMES[s], in_incident)
        level[rows] = compiled.level

    flip = normal & (rng.random(m) < MISLABEL_SHARE)
    level[flip] = rng.choice(4, size=int(flip.sum()), p=[0.2, 0.4, 0.25, 0.15])

    first = index * CHUNK_ROWS
    log_id = np.arange(first, first + m).astype(S)
    timestamp = np.datetime_as_string(times.astype("datetime64[ms]"), unit="ms").astype(S)
    line = _concat(
        [f"gen-{spec.seed}-", log_id, "\t", timestamp, "+00\t", LEVELS[level], "\t", message,
         "\t", _HOST_COLUMNS[_HOST_OFFSET[service] + host], "\t", tail]
    )  # fmt: skip
    assert isinstance(line, np.ndarray)
    return "\n".join(line.tolist()) + "\n"


# The columns of the COPY text, in order.
GENERATED_COLUMNS = [
    "log_id", "timestamp", "level", "message", "source_type", "host", "service", "category",
    "http_status", "response_time_ms", "is_anomaly", "anomaly_type",
]  # fmt: skip


def generate_copy_chunks(spec: GeneratorSpec) -> Iterator[tuple[int, str]]:
    """Yield (rows, COPY text of GENERATED_COLUMNS) chunks of the logs, in time order."""
    rng = np.random.default_rng([spec.seed, 0])
    start, end = spec.window()
    incidents = _plan_incidents(spec, rng, start, end)
    incident_rows = sum(i.rows for i in incidents)
    parts = [_timestamps(rng, spec.rows - incident_rows, start, end)]
    labels = [np.full(spec.rows - incident_rows, -1, dtype=np.int32)]
    for i, incident in enumerate(incidents):
        parts.append(
            rng.integers(incident.start_ms, incident.start_ms + incident.duration_ms, incident.rows)
        )
        labels.append(np.full(incident.rows, i, dtype=np.int32))
    times = np.concatenate(parts)
    order = np.argsort(times, kind="stable")
    times, incident_of = times[order], np.concatenate(labels)[order]
    del order, parts, labels
    for index, first in enumerate(range(0, spec.rows, CHUNK_ROWS)):
        sl = slice(first, first + CHUNK_ROWS)
        chunk = _chunk_lines(spec, index, times[sl], incident_of[sl], incidents)
        yield min(CHUNK_ROWS, spec.rows - first), chunk
