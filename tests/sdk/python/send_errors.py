"""A small "shop" that fails in real code paths and reports with the real sentry-sdk.

Run by tests/sentry_sdks.rs with SENTRY_DSN (a Stackhouse DSN) and STACKHOUSE_TRACE_ID (the
trace every event must carry). Prints one JSON line per captured event, {"bug": ..., "event_id":
...}, so the test knows which event came from which bug. The bugs:

- "quantity": int() on a malformed quantity, five times, each message naming another order;
- "coupon": an expired coupon raises ValueError too (same type as "quantity"), three times;
- "report": averaging an empty list, ZeroDivisionError, once.

Besides events, it sends what a real application sends in envelopes: the transaction the
errors happen in, a cron check-in, logs, an attachment and a client report (an event dropped by
before_send), so the server sees each item type from a real SDK.
"""

import json
import os

import sentry_sdk
from sentry_sdk import crons


def parse_quantity(raw):
    return int(raw)


def checkout(order_id):
    sentry_sdk.set_tag("checkout.step", "quantity")
    return parse_quantity(f"x{order_id}")


def apply_coupon(code):
    raise ValueError(f"coupon {code} has expired")


def redeem(code):
    sentry_sdk.set_tag("checkout.step", "coupon")
    apply_coupon(code)


def average_basket(totals):
    return sum(totals) / len(totals)


def nightly_report():
    sentry_sdk.set_tag("checkout.step", "report")
    return average_basket([])


def capture(bug, action):
    try:
        action()
    except Exception as error:  # noqa: BLE001 - every failure is reported
        event_id = sentry_sdk.capture_exception(error)
        print(json.dumps({"bug": bug, "event_id": event_id}), flush=True)


def drop_marked_events(event, _hint):
    # Dropping an event makes the SDK send a client report saying so.
    return None if event.get("tags", {}).get("drop") == "yes" else event


def main():
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        release="shop-python@1.2.3",
        environment="e2e",
        server_name="python-worker",
        traces_sample_rate=1.0,
        enable_logs=True,
        before_send=drop_marked_events,
    )
    sentry_sdk.set_user({"id": "user-42", "email": "ada@example.com", "username": "ada"})
    sentry_sdk.set_tag("sdk.program", "python")

    trace_id = os.environ["STACKHOUSE_TRACE_ID"]
    incoming = {"sentry-trace": f"{trace_id}-{'a1b2c3d4e5f60718'}-1"}
    transaction = sentry_sdk.continue_trace(incoming, op="task", name="checkout-batch")
    with sentry_sdk.start_transaction(transaction):
        with sentry_sdk.start_span(op="checkout", name="process orders"):
            for order_id in (1001, 1002, 1003, 1004, 1005):
                capture("quantity", lambda: checkout(order_id))
            for code in ("SPRING10", "SUMMER20", "AUTUMN30"):
                capture("coupon", lambda: redeem(code))
            sentry_sdk.get_current_scope().add_attachment(
                bytes=b'{"cart": [1, 2, 3]}', filename="cart.json"
            )
            capture("report", nightly_report)
        sentry_sdk.logger.info("processed {count} orders", count=9)

    crons.capture_checkin(monitor_slug="nightly-report", status="ok")
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("drop", "yes")
        sentry_sdk.capture_message("dropped by before_send")
    sentry_sdk.flush(timeout=10)


if __name__ == "__main__":
    main()
