"""The real Python sentry-sdk with tracing on (traces_sample_rate=1.0), for tests/traces.rs.

Sends TRANSACTIONS transactions named "GET /cart", each with a database span and an HTTP client
span; the second one also raises inside a "compute total" span, captures the exception (an error
event of the same trace, whose active span is "compute total") and ends with internal_error.

Usage: python sentry_traces.py DSN TRANSACTIONS
Prints one JSON line: {"trace_ids": [...], "failing_trace": "...", "event_id": "...",
"failing_span": "..."}
"""

import json
import sys
import time

import sentry_sdk

DSN, TRANSACTIONS = sys.argv[1], int(sys.argv[2])
sentry_sdk.init(
    dsn=DSN,
    traces_sample_rate=1.0,
    release="cart@2.0.0",
    environment="test",
    default_integrations=False,
)
sentry_sdk.set_tag("service", "cart")

trace_ids, failing = [], {}
for number in range(TRANSACTIONS):
    with sentry_sdk.start_transaction(name="GET /cart", op="http.server") as transaction:
        trace_ids.append(transaction.trace_id)
        with sentry_sdk.start_span(op="db", name="SELECT * FROM carts") as span:
            span.set_data("db.system", "postgresql")
            time.sleep(0.002)
        with sentry_sdk.start_span(op="http.client", name="GET http://pricing/quote") as span:
            span.set_data("http.request.method", "GET")
            time.sleep(0.002)
        if number == 1:
            with sentry_sdk.start_span(op="function", name="compute total") as span:
                try:
                    total = 10 / 0
                except ZeroDivisionError as error:
                    failing["event_id"] = sentry_sdk.capture_exception(error)
                    failing["failing_span"] = span.span_id
                span.set_status("internal_error")
            transaction.set_status("internal_error")
            failing["failing_trace"] = transaction.trace_id
        else:
            transaction.set_status("ok")

sentry_sdk.flush(timeout=10)
print(json.dumps({"trace_ids": trace_ids, **failing}))
