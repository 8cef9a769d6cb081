//! A small "shop" that fails in real code paths and reports with the real `sentry` crate.
//!
//! `tests/sentry_sdks.rs` runs it in a child process (its own test binary, re-invoked with
//! `SENTRY_DSN` and `STACKHOUSE_TRACE_ID` set), so it is a separate application talking HTTP to
//! the server like any other. It prints one JSON line per captured event,
//! `{"bug": ..., "event_id": ...}`. The bugs:
//!
//! - `quantity`: a malformed quantity panics naming the order, five times;
//! - `shipping`: indexing past the shipping options panics (same exception type, `panic`, as
//!   `quantity`), three times with different indexes;
//! - `discount`: parsing a discount fails with `ParseIntError`, captured as an error with the
//!   capturing thread's stack attached, twice.

use std::time::Duration;

use sentry::protocol::User;

/// Where in-app frames start: the test crate this file is compiled into.
const IN_APP_CRATE: &str = "sentry_sdks";

fn parse_quantity(order_id: u64, raw: &str) -> u32 {
    match raw.parse() {
        Ok(quantity) => quantity,
        Err(error) => panic!("order {order_id}: invalid quantity {raw:?}: {error}"),
    }
}

fn checkout(order_id: u64) -> u32 {
    sentry::configure_scope(|scope| scope.set_tag("checkout.step", "quantity"));
    parse_quantity(order_id, &format!("x{order_id}"))
}

fn pick_shipping(options: &[&'static str], choice: usize) -> &'static str {
    options[choice]
}

fn ship(choice: usize) -> &'static str {
    sentry::configure_scope(|scope| scope.set_tag("checkout.step", "shipping"));
    pick_shipping(&["standard", "express"], choice)
}

fn parse_discount(code: &str) -> Result<u8, std::num::ParseIntError> {
    code.trim_start_matches("PCT").parse()
}

fn apply_discount(code: &str) -> Result<u8, std::num::ParseIntError> {
    sentry::configure_scope(|scope| scope.set_tag("checkout.step", "discount"));
    parse_discount(code)
}

/// Reports a failed discount as an error; the SDK attaches this thread's stack, so the
/// innermost in-app frame is this function.
fn redeem_discount(code: &str) {
    if let Err(error) = apply_discount(code) {
        report("discount", sentry::capture_error(&error));
    }
}

fn report(bug: &str, event_id: sentry::types::Uuid) {
    println!(
        "{}",
        serde_json::json!({ "bug": bug, "event_id": event_id.simple().to_string() })
    );
}

/// Runs a step that panics; the SDK's panic integration reports the panic as it happens.
fn capture_panic(bug: &str, step: impl FnOnce() + std::panic::UnwindSafe) {
    if std::panic::catch_unwind(step).is_err() {
        if let Some(event_id) = sentry::last_event_id() {
            report(bug, event_id);
        }
    }
}

pub fn run(dsn: &str, trace_id: &str) {
    let guard = sentry::init((
        dsn,
        sentry::ClientOptions {
            release: Some("shop-rust@3.0.0".into()),
            environment: Some("e2e".into()),
            server_name: Some("rust-worker".into()),
            traces_sample_rate: 1.0,
            attach_stacktrace: true,
            in_app_include: vec![IN_APP_CRATE],
            ..Default::default()
        },
    ));
    sentry::configure_scope(|scope| {
        scope.set_user(Some(User {
            id: Some("user-9".into()),
            email: Some("linus@example.com".into()),
            username: Some("linus".into()),
            ..Default::default()
        }));
        scope.set_tag("sdk.program", "rust");
    });

    let sentry_trace = format!("{trace_id}-c1d2e3f405162738-1");
    let context = sentry::TransactionContext::continue_from_headers(
        "checkout-batch",
        "task",
        [("sentry-trace", sentry_trace.as_str())],
    );
    let transaction = sentry::start_transaction(context);
    sentry::configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));

    for round in 0..5u64 {
        capture_panic("quantity", || {
            checkout(3001 + round);
        });
        if round < 3 {
            let choice = 5 + round as usize;
            capture_panic("shipping", move || {
                ship(choice);
            });
        }
        if round < 2 {
            redeem_discount(["PCTten", "PCT1000"][round as usize]);
        }
    }

    transaction.finish();
    if let Some(client) = sentry::Hub::current().client() {
        client.flush(Some(Duration::from_secs(10)));
    }
    drop(guard);
}
