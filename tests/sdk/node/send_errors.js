// A small "shop" that fails in real code paths and reports with the real @sentry/node.
//
// Run by tests/sentry_sdks.rs with SENTRY_DSN (a Stackhouse DSN) and STACKHOUSE_TRACE_ID (the
// trace every event must carry). Prints one JSON line per captured event, {"bug", "event_id"},
// so the test knows which event came from which bug. The bugs:
//
// - "quantity": a malformed quantity is refused with a RangeError naming the order, five times;
// - "total": reading the total of a missing order, a TypeError, three times;
// - "email": lower-casing a missing email, a TypeError too (same type as "total"), twice.
//
// It also sends a session (release health) and the transaction the errors happen in.
"use strict";

const Sentry = require("@sentry/node");

const orders = new Map([[7, { total: 120 }]]);

function parseQuantity(orderId, raw) {
  if (!/^[0-9]+$/.test(raw)) {
    throw new RangeError(`order ${orderId}: quantity "${raw}" is not a whole number`);
  }
  return Number(raw);
}

function checkout(orderId) {
  Sentry.setTag("checkout.step", "quantity");
  return parseQuantity(orderId, `x${orderId}`);
}

function orderTotal(orderId) {
  Sentry.setTag("checkout.step", "total");
  const order = orders.get(orderId);
  return order.total;
}

function normalizeEmail(user) {
  Sentry.setTag("checkout.step", "email");
  return user.email.toLowerCase();
}

function capture(bug, action) {
  try {
    action();
  } catch (error) {
    const eventId = Sentry.captureException(error);
    console.log(JSON.stringify({ bug, event_id: eventId }));
  }
}

async function main() {
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    release: "shop-node@2.0.0",
    environment: "e2e",
    serverName: "node-worker",
    tracesSampleRate: 1.0,
  });
  Sentry.setUser({ id: "user-7", email: "grace@example.com", username: "grace" });
  Sentry.setTag("sdk.program", "node");
  Sentry.startSession();

  const traceId = process.env.STACKHOUSE_TRACE_ID;
  const sentryTrace = `${traceId}-b1c2d3e4f5061728-1`;
  Sentry.continueTrace({ sentryTrace, baggage: undefined }, () =>
    Sentry.startSpan({ name: "checkout-batch", op: "task" }, () => {
      // Interleaved: the SDK's Dedupe integration drops an error identical to the one just
      // before it (same message and stack), as it should; "total" repeats its message.
      const users = [{ name: "no email" }, { email: null }];
      for (let round = 0; round < 5; round += 1) {
        capture("quantity", () => checkout(2001 + round));
        if (round < 3) capture("total", () => orderTotal(31 + round));
        if (round < users.length) capture("email", () => normalizeEmail(users[round]));
      }
    }),
  );

  Sentry.endSession();
  await Sentry.close(10000);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
