"""What the generator writes: services, message templates and incident kinds.

A template is (services, level, weight, category, text). `services` is a tuple of service
names or ("*",) for lines any service writes. `{name}` in the text is a variable part filled by
`generator.PLACEHOLDERS`; `{status2xx}`/`{status4xx}`/`{status5xx}` and `{ms}` also fill the
row's http_status and response_time_ms. Some INFO/WARN templates read like errors on purpose
(retries that succeeded, handled exceptions): real logs are like that, and a level classifier
should have to cope with it.
"""

from __future__ import annotations

from typing import NamedTuple


class Template(NamedTuple):
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
TEMPLATES = (
    # HTTP access lines
    Template(_HTTP_FRONT, "INFO", 30, "http",
             '{ip} - {user} "{method} {path} HTTP/1.1" {status2xx} {bytes} {ms}ms'),
    Template(_HTTP_FRONT, "WARN", 2, "http",
             '{ip} - - "{method} {path} HTTP/1.1" {status4xx} {bytes} {ms}ms'),
    Template(_HTTP_FRONT, "ERROR", 0.5, "http",
             '{ip} - - "{method} {path} HTTP/1.1" {status5xx} 0 {ms}ms upstream error'),
    Template(("api-gateway",), "DEBUG", 2, "http",
             "route matched {method} {path} -> {upstream} (trace {trace})"),
    Template(("api-gateway",), "WARN", 0.8, "http",
             "rate limit exceeded for client {ip} on {path} ({n} req/min)"),
    # generic service lines
    Template(_ANY, "INFO", 8, "http",
             "handled {method} {path} status={status2xx} duration={ms}ms request_id={trace}"),
    Template(_ANY, "DEBUG", 2, "system", "cache hit for key {key} (ttl {n}s)"),
    Template(_ANY, "DEBUG", 1, "system", "cache miss for key {key}, loading from {table}"),
    Template(_ANY, "DEBUG", 1, "db",
             "SQL executed in {ms}ms: select * from {table} where id = {n}"),
    Template(_ANY, "INFO", 1.5, "system", "health check ok ({ms}ms), {n} active connections"),
    Template(_ANY, "INFO", 0.6, "system",
             "config reloaded from /etc/app/{service}.yaml version {version}"),
    Template(_ANY, "WARN", 1, "db", "slow query took {ms}ms on table {table} (threshold 500ms)"),
    Template(_ANY, "WARN", 0.6, "system", "connection pool {pct}% utilised, {n} waiting"),
    Template(_ANY, "WARN", 0.4, "system", "GC pause of {ms}ms exceeded target"),
    Template(_ANY, "ERROR", 0.35, "db",
             "database query failed: serialization failure on {table}, concurrent update"),
    Template(_ANY, "ERROR", 0.25, "http",
             "call to {upstream} failed: connection refused after {ms}ms (request_id={trace})"),
    Template(_ANY, "ERROR", 0.15, "system", "unhandled exception in worker {n}: KeyError: '{key}'"),
    # deliberately ambiguous: error words, benign level
    Template(_ANY, "INFO", 0.5, "http",
             "retry succeeded after error: connection reset (attempt {attempt}) id={trace}"),
    Template(_ANY, "INFO", 0.3, "system",
             "handled exception in request {trace}: falling back to cached value for {key}"),
    Template(_ANY, "DEBUG", 0.3, "system", "error counter for {upstream} reset to 0"),
    Template(_ANY, "WARN", 0.3, "system",
             "task {trace} failed, will retry in {n}s (attempt {attempt}/5)"),
    Template(("auth",), "INFO", 12, "auth", "user {user} logged in from {ip} via {method_auth}"),
    Template(("auth",), "INFO", 4, "auth", "issued token for user {user} expires_in={n}s"),
    Template(("auth",), "WARN", 2, "auth",
             "failed login for user {user} from {ip}: invalid password"),
    Template(("auth",), "WARN", 0.5, "auth",
             "account {user} locked after {attempt} failed attempts"),
    Template(("auth",), "ERROR", 0.2, "auth",
             "token signature verification failed for user {user} from {ip}"),
    Template(("auth",), "DEBUG", 1.5, "auth", "session {trace} refreshed for uid={uid}"),
    Template(("payments",), "INFO", 10, "business",
             "payment {order} authorised amount={amount} EUR card=****{card}"),
    Template(("payments",), "INFO", 3, "business",
             "refund issued for order {order} amount={amount} EUR"),
    Template(("payments",), "WARN", 1, "business",
             "payment {order} declined by issuer: insufficient funds"),
    Template(("payments",), "ERROR", 0.4, "business",
             "payment provider timeout after {ms}ms for order {order}"),
    Template(("payments",), "INFO", 0.6, "business",
             "payment {order} failed fraud check, routed to manual review"),
    Template(("orders",), "INFO", 10, "business",
             "order {order} created by user {user} with {n} items total={amount} EUR"),
    Template(("orders",), "INFO", 4, "business", "order {order} status changed to {order_status}"),
    Template(("orders",), "WARN", 0.8, "business",
             "order {order} contains unavailable sku {sku}, partial fulfilment"),
    Template(("orders",), "ERROR", 0.3, "business",
             "failed to persist order {order}: deadlock detected"),
    Template(("search",), "INFO", 10, "search", "query '{query}' returned {n} hits in {ms}ms"),
    Template(("search",), "DEBUG", 1.5, "search", "shard {attempt} merged {n} segments"),
    Template(("search",), "WARN", 0.8, "search",
             "query '{query}' timed out on shard {attempt}, partial results"),
    Template(("search",), "ERROR", 0.2, "search",
             "index {table} refresh failed: circuit breaker tripped"),
    Template(("inventory",), "INFO", 8, "business", "stock for {sku} adjusted by {delta} to {n}"),
    Template(("inventory",), "WARN", 1, "business",
             "stock for {sku} below reorder point ({n} left)"),
    Template(("inventory",), "ERROR", 0.2, "business",
             "negative stock computed for {sku}, adjustment rejected"),
    Template(("notifications",), "INFO", 8, "queue",
             "sent {channel} notification to user {user} (message {trace})"),
    Template(("notifications",), "WARN", 1.2, "queue",
             "{channel} provider returned 429, backing off {n}s"),
    Template(("notifications",), "ERROR", 0.3, "queue",
             "bounce for user {user}: mailbox unavailable"),
    Template(("notifications",), "DEBUG", 1.5, "queue", "dequeued {n} messages from {queue}"),
    Template(("users",), "INFO", 8, "business", "profile updated for user {user} fields={n}"),
    Template(("users",), "INFO", 2, "business", "new user registered: {user} from {ip}"),
    Template(("users",), "WARN", 0.5, "business", "duplicate registration attempt for {user}"),
    Template(("billing",), "INFO", 8, "erp",
             "IDoc {n} posted to SAP company code {cc} invoice {order}"),
    Template(("billing",), "WARN", 1, "erp", "RFC call BAPI_ACC_DOCUMENT_POST slow: {ms}ms"),
    Template(("billing",), "ERROR", 0.4, "erp", "IDoc {n} status 51: posting period not open"),
    Template(("shipping",), "INFO", 8, "erp",
             "delivery {order} handed to carrier {carrier} tracking {trace}"),
    Template(("shipping",), "WARN", 1, "erp", "carrier {carrier} API slow ({ms}ms), label queued"),
    Template(("shipping",), "ERROR", 0.3, "erp",
             "label creation failed for delivery {order}: invalid postcode"),
    Template(("recommendations",), "INFO", 8, "ml",
             "served {n} recommendations for user {user} model {version}"),
    Template(("recommendations",), "DEBUG", 1.5, "ml",
             "feature vector for user {uid} built in {ms}ms"),
    Template(("recommendations",), "WARN", 0.8, "ml",
             "model {version} fallback to popular items for user {user}"),
    Template(("scheduler",), "INFO", 8, "batch", "job {job} started (run {trace})"),
    Template(("scheduler",), "INFO", 8, "batch", "job {job} finished in {n}s, {bytes} records"),
    Template(("scheduler",), "WARN", 1, "batch", "job {job} overran its window by {n}s"),
    Template(("scheduler",), "ERROR", 0.4, "batch", "job {job} failed with exit code {attempt}"),
    Template(("cdn-edge",), "DEBUG", 2, "http", "cache {cache_state} for {path} at pop {pop}"),
    Template(("cdn-edge",), "INFO", 3, "http", "origin fetch {path} {ms}ms from pop {pop}"),
)

# Incident kinds: anomaly_type -> (services it can hit, templates). Incident lines
# are bursts of these (rare or error) templates on one service, labelled is_anomaly.
INCIDENTS = {
    "db_connection_exhaustion": (
        ("orders", "payments", "users", "inventory"),
        (
            Template(_ANY, "ERROR", 6, "db",
                     "could not get a database connection in 30000ms (pool size {n}, waiting {n})"),
            Template(_ANY, "ERROR", 3, "db",
                     "FATAL: remaining connection slots are reserved for superuser connections"),
            Template(_ANY, "WARN", 2, "db", "connection pool 100% utilised, {n} waiting"),
        ),
    ),
    "upstream_timeout": (
        ("api-gateway", "payments", "search"),
        (
            Template(_ANY, "ERROR", 6, "http",
                     '{ip} - - "{method} {path} HTTP/1.1" {status5xx} 0 {ms}ms upstream timed out'),
            Template(_ANY, "WARN", 3, "http",
                     "circuit breaker for {upstream} opened after {n} failures"),
        ),
    ),
    "out_of_memory": (
        ("search", "recommendations", "scheduler"),
        (
            Template(_ANY, "FATAL", 1, "system",
                     "java.lang.OutOfMemoryError: Java heap space (heap {n}MB) - process exiting"),
            Template(_ANY, "ERROR", 3, "system", "worker {n} killed by OOM killer, restarting"),
            Template(_ANY, "WARN", 4, "system",
                     "GC overhead limit: {pct}% of time in GC over last minute"),
        ),
    ),
    "disk_full": (
        ("billing", "shipping", "scheduler", "orders"),
        (
            Template(_ANY, "ERROR", 4, "system",
                     "write failed: No space left on device (/var/lib/{service}/data)"),
            Template(_ANY, "FATAL", 1, "system",
                     "could not write checkpoint: disk full, shutting down"),
        ),
    ),
    "credential_stuffing": (
        ("auth",),
        (
            Template(_ANY, "WARN", 8, "auth",
                     "failed login for user {user} from {ip}: invalid password"),
            Template(_ANY, "ERROR", 2, "auth",
                     "possible brute force from {ip}: {n} failures in 60s"),
        ),
    ),
    "crash_loop": (
        ("notifications", "users", "inventory"),
        (
            Template(_ANY, "FATAL", 2, "system",
                     "panic: runtime error: invalid memory address or nil pointer dereference"),
            Template(_ANY, "INFO", 3, "system", "service {service} starting version {version}"),
            Template(_ANY, "ERROR", 2, "http", "readiness probe failed: HTTP {status5xx}"),
        ),
    ),
}
# fmt: on
