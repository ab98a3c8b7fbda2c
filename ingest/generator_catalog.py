"""What the generator writes: services, message formats and incident kinds.

A message format is (services, level, weight, category, text). `services` is a tuple of service
names or ("*",) for lines any service writes. `{name}` in the text is a variable part filled by
`generator.PLACEHOLDERS`; `{status2xx}`/`{status4xx}`/`{status5xx}` and `{ms}` also fill the
row's http_status and response_time_ms. Some INFO/WARN formats read like errors on purpose
(retries that succeeded, handled exceptions): real logs are like that, and a level classifier
should have to cope with it.
"""

from __future__ import annotations

from typing import NamedTuple


class Message(NamedTuple):
    services: tuple[str, ...]
    level: str
    weight: float
    category: str
    text: str


class Service(NamedTuple):
    name: str
    traffic: float  # share of normal lines
    hosts: int
    source_type: str


SERVICES = (
    Service("api-gateway", 0.22, 6, "application"),
    Service("auth", 0.10, 4, "application"),
    Service("payments", 0.07, 4, "application"),
    Service("orders", 0.09, 4, "application"),
    Service("search", 0.10, 5, "application"),
    Service("inventory", 0.06, 3, "application"),
    Service("notifications", 0.06, 3, "application"),
    Service("users", 0.06, 3, "application"),
    Service("billing", 0.04, 2, "sap"),
    Service("shipping", 0.04, 2, "sap"),
    Service("recommendations", 0.05, 4, "application"),
    Service("scheduler", 0.03, 2, "application"),
    Service("cdn-edge", 0.08, 6, "splunk"),
)

_ANY = ("*",)
_HTTP_FRONT = ("api-gateway", "cdn-edge")

# fmt: off
MESSAGES = (
    # HTTP access lines
    Message(_HTTP_FRONT, "INFO", 30, "http",
             '{ip} - {user} "{method} {path} HTTP/1.1" {status2xx} {bytes} {ms}ms'),
    Message(_HTTP_FRONT, "WARN", 2, "http",
             '{ip} - - "{method} {path} HTTP/1.1" {status4xx} {bytes} {ms}ms'),
    Message(_HTTP_FRONT, "ERROR", 0.5, "http",
             '{ip} - - "{method} {path} HTTP/1.1" {status5xx} 0 {ms}ms upstream error'),
    Message(("api-gateway",), "DEBUG", 2, "http",
            "route matched {method} {path} -> {upstream} (trace {trace})"),
    Message(("api-gateway",), "WARN", 0.8, "http",
            "rate limit exceeded for client {ip} on {path} ({n} req/min)"),
    # generic service lines
    Message(_ANY, "INFO", 8, "http",
            "handled {method} {path} status={status2xx} duration={ms}ms request_id={trace}"),
    Message(_ANY, "DEBUG", 2, "system", "cache hit for key {key} (ttl {n}s)"),
    Message(_ANY, "DEBUG", 1, "system", "cache miss for key {key}, loading from {table}"),
    Message(_ANY, "DEBUG", 1, "db",
            "SQL executed in {ms}ms: select * from {table} where id = {n}"),
    Message(_ANY, "INFO", 1.5, "system", "health check ok ({ms}ms), {n} active connections"),
    Message(_ANY, "INFO", 0.6, "system",
            "config reloaded from /etc/app/{service}.yaml version {version}"),
    Message(_ANY, "WARN", 1, "db", "slow query took {ms}ms on table {table} (threshold 500ms)"),
    Message(_ANY, "WARN", 0.6, "system", "connection pool {pct}% utilised, {n} waiting"),
    Message(_ANY, "WARN", 0.4, "system", "GC pause of {ms}ms exceeded target"),
    Message(_ANY, "ERROR", 0.35, "db",
            "database query failed: serialization failure on {table}, concurrent update"),
    Message(_ANY, "ERROR", 0.25, "http",
            "call to {upstream} failed: connection refused after {ms}ms (request_id={trace})"),
    Message(_ANY, "ERROR", 0.15, "system", "unhandled exception in worker {n}: KeyError: '{key}'"),
    # deliberately ambiguous: error words, benign level
    Message(_ANY, "INFO", 0.5, "http",
            "retry succeeded after error: connection reset (attempt {attempt}) id={trace}"),
    Message(_ANY, "INFO", 0.3, "system",
            "handled exception in request {trace}: falling back to cached value for {key}"),
    Message(_ANY, "DEBUG", 0.3, "system", "error counter for {upstream} reset to 0"),
    Message(_ANY, "WARN", 0.3, "system",
            "task {trace} failed, will retry in {n}s (attempt {attempt}/5)"),
    Message(("auth",), "INFO", 12, "auth", "user {user} logged in from {ip} via {method_auth}"),
    Message(("auth",), "INFO", 4, "auth", "issued token for user {user} expires_in={n}s"),
    Message(("auth",), "WARN", 2, "auth",
            "failed login for user {user} from {ip}: invalid password"),
    Message(("auth",), "WARN", 0.5, "auth",
            "account {user} locked after {attempt} failed attempts"),
    Message(("auth",), "ERROR", 0.2, "auth",
            "token signature verification failed for user {user} from {ip}"),
    Message(("auth",), "DEBUG", 1.5, "auth", "session {trace} refreshed for uid={uid}"),
    Message(("payments",), "INFO", 10, "business",
            "payment {order} authorised amount={amount} EUR card=****{card}"),
    Message(("payments",), "INFO", 3, "business",
            "refund issued for order {order} amount={amount} EUR"),
    Message(("payments",), "WARN", 1, "business",
            "payment {order} declined by issuer: insufficient funds"),
    Message(("payments",), "ERROR", 0.4, "business",
            "payment provider timeout after {ms}ms for order {order}"),
    Message(("payments",), "INFO", 0.6, "business",
            "payment {order} failed fraud check, routed to manual review"),
    Message(("orders",), "INFO", 10, "business",
            "order {order} created by user {user} with {n} items total={amount} EUR"),
    Message(("orders",), "INFO", 4, "business", "order {order} status changed to {order_status}"),
    Message(("orders",), "WARN", 0.8, "business",
            "order {order} contains unavailable sku {sku}, partial fulfilment"),
    Message(("orders",), "ERROR", 0.3, "business",
            "failed to persist order {order}: deadlock detected"),
    Message(("search",), "INFO", 10, "search", "query '{query}' returned {n} hits in {ms}ms"),
    Message(("search",), "DEBUG", 1.5, "search", "shard {attempt} merged {n} segments"),
    Message(("search",), "WARN", 0.8, "search",
            "query '{query}' timed out on shard {attempt}, partial results"),
    Message(("search",), "ERROR", 0.2, "search",
            "index {table} refresh failed: circuit breaker tripped"),
    Message(("inventory",), "INFO", 8, "business", "stock for {sku} adjusted by {delta} to {n}"),
    Message(("inventory",), "WARN", 1, "business",
            "stock for {sku} below reorder point ({n} left)"),
    Message(("inventory",), "ERROR", 0.2, "business",
            "negative stock computed for {sku}, adjustment rejected"),
    Message(("notifications",), "INFO", 8, "queue",
            "sent {channel} notification to user {user} (message {trace})"),
    Message(("notifications",), "WARN", 1.2, "queue",
            "{channel} provider returned 429, backing off {n}s"),
    Message(("notifications",), "ERROR", 0.3, "queue",
            "bounce for user {user}: mailbox unavailable"),
    Message(("notifications",), "DEBUG", 1.5, "queue", "dequeued {n} messages from {queue}"),
    Message(("users",), "INFO", 8, "business", "profile updated for user {user} fields={n}"),
    Message(("users",), "INFO", 2, "business", "new user registered: {user} from {ip}"),
    Message(("users",), "WARN", 0.5, "business", "duplicate registration attempt for {user}"),
    Message(("billing",), "INFO", 8, "erp",
            "IDoc {n} posted to SAP company code {cc} invoice {order}"),
    Message(("billing",), "WARN", 1, "erp", "RFC call BAPI_ACC_DOCUMENT_POST slow: {ms}ms"),
    Message(("billing",), "ERROR", 0.4, "erp", "IDoc {n} status 51: posting period not open"),
    Message(("shipping",), "INFO", 8, "erp",
            "delivery {order} handed to carrier {carrier} tracking {trace}"),
    Message(("shipping",), "WARN", 1, "erp", "carrier {carrier} API slow ({ms}ms), label queued"),
    Message(("shipping",), "ERROR", 0.3, "erp",
            "label creation failed for delivery {order}: invalid postcode"),
    Message(("recommendations",), "INFO", 8, "ml",
            "served {n} recommendations for user {user} model {version}"),
    Message(("recommendations",), "DEBUG", 1.5, "ml",
            "feature vector for user {uid} built in {ms}ms"),
    Message(("recommendations",), "WARN", 0.8, "ml",
            "model {version} fallback to popular items for user {user}"),
    Message(("scheduler",), "INFO", 8, "batch", "job {job} started (run {trace})"),
    Message(("scheduler",), "INFO", 8, "batch", "job {job} finished in {n}s, {bytes} records"),
    Message(("scheduler",), "WARN", 1, "batch", "job {job} overran its window by {n}s"),
    Message(("scheduler",), "ERROR", 0.4, "batch", "job {job} failed with exit code {attempt}"),
    Message(("cdn-edge",), "DEBUG", 2, "http", "cache {cache_state} for {path} at pop {pop}"),
    Message(("cdn-edge",), "INFO", 3, "http", "origin fetch {path} {ms}ms from pop {pop}"),
)

# Incident kinds: anomaly_type -> (services it can hit, message formats). Incident lines
# are bursts of these (rare or error) formats on one service, labelled is_anomaly.
INCIDENTS = {
    "db_connection_exhaustion": (
        ("orders", "payments", "users", "inventory"),
        (
            Message(_ANY, "ERROR", 6, "db",
                    "could not get a database connection in 30000ms (pool size {n}, waiting {n})"),
            Message(_ANY, "ERROR", 3, "db",
                    "FATAL: remaining connection slots are reserved for superuser connections"),
            Message(_ANY, "WARN", 2, "db", "connection pool 100% utilised, {n} waiting"),
        ),
    ),
    "upstream_timeout": (
        ("api-gateway", "payments", "search"),
        (
            Message(_ANY, "ERROR", 6, "http",
                     '{ip} - - "{method} {path} HTTP/1.1" {status5xx} 0 {ms}ms upstream timed out'),
            Message(_ANY, "WARN", 3, "http",
                    "circuit breaker for {upstream} opened after {n} failures"),
        ),
    ),
    "out_of_memory": (
        ("search", "recommendations", "scheduler"),
        (
            Message(_ANY, "FATAL", 1, "system",
                    "java.lang.OutOfMemoryError: Java heap space (heap {n}MB) - process exiting"),
            Message(_ANY, "ERROR", 3, "system", "worker {n} killed by OOM killer, restarting"),
            Message(_ANY, "WARN", 4, "system",
                    "GC overhead limit: {pct}% of time in GC over last minute"),
        ),
    ),
    "disk_full": (
        ("billing", "shipping", "scheduler", "orders"),
        (
            Message(_ANY, "ERROR", 4, "system",
                    "write failed: No space left on device (/var/lib/{service}/data)"),
            Message(_ANY, "FATAL", 1, "system",
                    "could not write checkpoint: disk full, shutting down"),
        ),
    ),
    "credential_stuffing": (
        ("auth",),
        (
            Message(_ANY, "WARN", 8, "auth",
                    "failed login for user {user} from {ip}: invalid password"),
            Message(_ANY, "ERROR", 2, "auth",
                    "possible brute force from {ip}: {n} failures in 60s"),
        ),
    ),
    "crash_loop": (
        ("notifications", "users", "inventory"),
        (
            Message(_ANY, "FATAL", 2, "system",
                    "panic: runtime error: invalid memory address or nil pointer dereference"),
            Message(_ANY, "INFO", 3, "system", "service {service} starting version {version}"),
            Message(_ANY, "ERROR", 2, "http", "readiness probe failed: HTTP {status5xx}"),
        ),
    ),
}
# fmt: on
