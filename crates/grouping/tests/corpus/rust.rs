//! Rust corpus: an axum API on tokio (panics with legacy-mangled hashes, anyhow chains, tracing events).

use super::{base, exception, frame, os, request, runtime, Corpus, V};
use stackhouse_protocol::{ErrorEvent, Frame, Mechanism};

/// A symbolicated frame: the function carries the legacy mangling hash, which changes with
/// every build.
fn rs(v: &mut V, function: &str, file: &str, line: u32, in_app: bool) -> Frame {
    let symbol = format!("{function}::h{}", v.build_hex(function, 16));
    let abs_path = if in_app {
        format!("/home/runner/work/shop/shop/{file}")
    } else {
        format!("/rustc/{}/library/{file}", v.build_hex("rustc", 40))
    };
    let line = if in_app { v.line(line) } else { line };
    let mut frame = frame(None, &symbol, file, Some(abs_path), line, in_app);
    frame.instruction_addr = Some(format!("0x{}", v.hex(12)));
    frame
}

/// Panic machinery, outermost last (it is the innermost part of the stack).
fn panic_frames(v: &mut V) -> Vec<Frame> {
    vec![
        rs(
            v,
            "core::option::unwrap_failed",
            "core/src/option.rs",
            2015,
            false,
        ),
        rs(
            v,
            "core::panicking::panic",
            "core/src/panicking.rs",
            146,
            false,
        ),
        rs(
            v,
            "core::panicking::panic_fmt",
            "core/src/panicking.rs",
            72,
            false,
        ),
        rs(
            v,
            "std::panicking::begin_panic_handler",
            "std/src/panicking.rs",
            645,
            false,
        ),
    ]
}

fn tokio_axum(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        rs(
            v,
            "std::thread::local::LocalKey<T>::with",
            "std/src/thread/local.rs",
            270,
            false,
        ),
        rs(
            v,
            "tokio::runtime::task::raw::poll",
            "tokio-1.36.0/src/runtime/task/raw.rs",
            255,
            false,
        ),
    ];
    if v.chance(0.5) {
        frames.push(rs(
            v,
            "tower::util::map_response::MapResponseFuture<F,N>::poll",
            "tower-0.4.13/src/util/map_response.rs",
            20,
            false,
        ));
    }
    frames.push(rs(
        v,
        "axum::routing::route::RouteFuture<E>::poll",
        "axum-0.7.4/src/routing/route.rs",
        167,
        false,
    ));
    frames
}

fn panic_event(v: &mut V, message: String, mut frames: Vec<Frame>) -> ErrorEvent {
    frames.extend(panic_frames(v));
    let mut event = base("rust", "shop-rs", v);
    runtime(&mut event, "rustc", "1.76.0");
    os(&mut event, "Linux");
    let mut panic = exception("panic", Some(message), frames);
    panic.mechanism = Some(Mechanism {
        ty: "panic".to_owned(),
        handled: Some(false),
        synthetic: None,
        description: None,
    });
    event.exceptions = vec![panic];
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("rs-order-unwrap-none", 13, |v| {
        let mut frames = tokio_axum(v);
        frames.push(rs(
            v,
            "shop_api::handlers::orders::get_order::{{closure}}",
            "src/handlers/orders.rs",
            40,
            true,
        ));
        frames.push(rs(
            v,
            "shop_api::orders::OrderView::from_row",
            "src/orders.rs",
            88,
            true,
        ));
        let mut event = panic_event(
            v,
            "called `Option::unwrap()` on a `None` value".into(),
            frames,
        );
        request(
            &mut event,
            "GET",
            format!("https://rs.shop.example.com/orders/{}", v.id()),
            "curl/8.5.0",
        );
        event
    });

    // Same panic message, another function.
    c.bug("rs-invoice-unwrap-none", 8, |v| {
        let mut frames = tokio_axum(v);
        frames.push(rs(
            v,
            "shop_api::handlers::billing::invoice_pdf::{{closure}}",
            "src/handlers/billing.rs",
            22,
            true,
        ));
        frames.push(rs(
            v,
            "shop_api::billing::render_pdf",
            "src/billing.rs",
            131,
            true,
        ));
        let mut event = panic_event(
            v,
            "called `Option::unwrap()` on a `None` value".into(),
            frames,
        );
        request(
            &mut event,
            "GET",
            format!("https://rs.shop.example.com/invoices/{}/pdf", v.id()),
            "curl/8.5.0",
        );
        event
    });

    c.bug("rs-config-parse", 7, |v| {
        let frames = vec![
            rs(v, "std::rt::lang_start_internal", "std/src/rt.rs", 148, false),
            rs(v, "shop_api::main", "src/main.rs", 12, true),
            rs(v, "shop_api::config::load", "src/config.rs", 51, true),
            rs(v, "core::result::unwrap_failed", "core/src/result.rs", 1649, false),
        ];
        let value = format!(
            "failed to parse config: Error {{ inner: invalid type: string \"{}\", expected u32 at line {} column {} }}",
            v.pick(&["abc", "eight", "10s"]),
            v.int(3, 40),
            v.int(1, 30)
        );
        panic_event(v, value, frames)
    });

    // anyhow: the database error, wrapped with context (root cause first).
    c.bug("rs-order-insert-duplicate", 10, |v| {
        let mut frames = tokio_axum(v);
        frames.push(rs(v, "shop_api::handlers::orders::create_order::{{closure}}", "src/handlers/orders.rs", 71, true));
        frames.push(rs(v, "shop_api::repo::orders::insert::{{closure}}", "src/repo/orders.rs", 33, true));
        frames.push(rs(v, "<core::result::Result<T,F> as core::ops::try_trait::FromResidual<core::result::Result<core::convert::Infallible,E>>>::from_residual", "core/src/result.rs", 1963, false));
        let mut event = base("rust", "shop-rs", v);
        request(&mut event, "POST", "https://rs.shop.example.com/orders".into(), "curl/8.5.0");
        let id = v.id();
        event.exceptions = vec![
            exception(
                "sqlx_core::error::Error",
                Some("error returned from database: duplicate key value violates unique constraint \"orders_pkey\"".into()),
                vec![],
            ),
            exception("anyhow::Error", Some(format!("inserting order {id}")), frames),
        ];
        event
    });

    c.bug("rs-tiers-index-oob", 9, |v| {
        let mut frames = tokio_axum(v);
        frames.push(rs(
            v,
            "shop_api::handlers::quotes::quote::{{closure}}",
            "src/handlers/quotes.rs",
            18,
            true,
        ));
        frames.push(rs(
            v,
            "shop_api::pricing::tiers::apply",
            "src/pricing/tiers.rs",
            44,
            true,
        ));
        let value = format!(
            "index out of bounds: the len is {} but the index is {}",
            v.int(0, 4),
            v.int(5, 12)
        );
        panic_event(v, value, frames)
    });

    // An async worker: closures are numbered (`{closure#N}`) and the number moves.
    c.bug("rs-sync-worker-panic", 8, |v| {
        let closure = format!("shop_worker::jobs::sync::run::{{closure#{}}}", v.deploy % 2);
        let mut frames = tokio_axum(v);
        frames.push(rs(v, &closure, "src/jobs/sync.rs", 60, true));
        frames.push(rs(
            v,
            "shop_worker::jobs::sync::merge_batch",
            "src/jobs/sync.rs",
            102,
            true,
        ));
        let value = format!(
            "batch {} has mismatched currency: expected EUR, got {}",
            v.id(),
            v.pick(&["USD", "GBP"])
        );
        panic_event(v, value, frames)
    });

    // tracing::error! events: message only.
    c.bug("rs-upstream-503-message", 7, |v| {
        let mut event = base("rust", "shop-rs", v);
        event.logger = Some("shop_api::upstream".into());
        event.message = Some(format!(
            "request to {} failed: status 503 after {} retries ({}ms)",
            v.pick(&[
                "https://inventory.internal/api/v1/stock",
                "https://pricing.internal/api/v1/quote"
            ]),
            v.int(2, 5),
            v.int(100, 3000)
        ));
        event
    });
}
