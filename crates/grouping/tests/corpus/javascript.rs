//! JavaScript corpus: a React storefront (webpack), an admin app (Vite), and a Node API.

use super::{
    base, exception, frame, os, request, runtime, Corpus, CHROME, EDGE, FIREFOX, SAFARI, V,
};
use stackhouse_protocol::{ErrorEvent, Frame, NamedVersion};

/// A browser frame in a webpack chunk whose name carries the build hash.
fn chunk_frame(v: &mut V, chunk: &str, function: &str, in_app: bool) -> Frame {
    let url = format!(
        "https://shop.example.com/static/js/{chunk}.{}.chunk.js",
        v.build_hex(chunk, 8)
    );
    let mut frame = frame(None, function, &url, Some(url.clone()), 1, in_app);
    frame.colno = Some(v.int(1000, 90_000) as u32);
    frame
}

fn vite_frame(v: &mut V, function: &str) -> Frame {
    let url = format!(
        "https://admin.shop.example/assets/index-{}.js",
        v.build_base62("index", 8)
    );
    let mut frame = frame(
        None,
        function,
        &url,
        Some(url.clone()),
        v.int(1, 3) as u32,
        true,
    );
    frame.colno = Some(v.int(1000, 200_000) as u32);
    frame
}

/// React's render loop, minified in production and not in-app.
fn react(v: &mut V) -> Vec<Frame> {
    let mut frames = Vec::new();
    for function in ["Ws", "Su", "ku", "bu", "gu", "Hi"] {
        if v.chance(0.8) {
            frames.push(chunk_frame(v, "vendors~main", function, false));
        }
    }
    frames
}

fn browser_event(v: &mut V, path: String) -> (ErrorEvent, &'static str) {
    let mut event = base("javascript", "storefront", v);
    let (agent, browser) = *v.pick(&[
        (CHROME, "Chrome"),
        (EDGE, "Edge"),
        (FIREFOX, "Firefox"),
        (SAFARI, "Safari"),
    ]);
    request(
        &mut event,
        "GET",
        format!("https://shop.example.com{path}"),
        agent,
    );
    event.contexts.browser = Some(NamedVersion {
        name: Some(browser.to_owned()),
        version: None,
    });
    os(
        &mut event,
        if browser == "Safari" {
            "iOS"
        } else {
            "Windows"
        },
    );
    event.transaction = Some(path);
    (event, browser)
}

/// The same `undefined` property access, as each engine words it.
fn undefined_property(browser: &str, variable: &str, property: &str) -> String {
    match browser {
        "Firefox" => format!("can't access property \"{property}\", {variable} is undefined"),
        "Safari" => format!("undefined is not an object (evaluating '{variable}.{property}')"),
        _ => format!("Cannot read properties of undefined (reading '{property}')"),
    }
}

fn node_frame(v: &mut V, path: &str, function: &str, line: u32) -> Frame {
    let root = if v.chance(0.5) {
        "/app".to_owned()
    } else {
        format!("/srv/api/releases/2024020{}", v.deploy)
    };
    let abs_path = format!("{root}/{path}");
    frame(
        None,
        function,
        &abs_path,
        Some(abs_path.clone()),
        v.line(line),
        true,
    )
}

fn node_library(path: &str, function: &str, line: u32) -> Frame {
    frame(None, function, path, Some(path.to_owned()), line, false)
}

fn node_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("node", "shop-node-api", v);
    request(
        &mut event,
        method,
        format!("https://api.shop.example.com{path}"),
        "okhttp/4.12.0",
    );
    runtime(
        &mut event,
        "node",
        if v.deploy >= 3 {
            "v20.11.0"
        } else {
            "v18.19.0"
        },
    );
    os(&mut event, "Linux");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("js-cart-summary-undefined", 16, |v| {
        let mut frames = react(v);
        frames.push(chunk_frame(v, "main", "CartPage", true));
        if v.chance(0.4) {
            frames.push(chunk_frame(v, "main", "<anonymous>", true));
        }
        frames.push(chunk_frame(v, "main", "CartSummary", true));
        let (mut event, browser) = browser_event(v, "/cart".into());
        let value = undefined_property(browser, "cart", "items");
        event.exceptions = vec![exception("TypeError", Some(value), frames)];
        event
    });

    // The same Chrome message in another component: another bug.
    c.bug("js-order-history-undefined", 8, |v| {
        let mut frames = react(v);
        frames.push(chunk_frame(v, "profile", "ProfilePage", true));
        frames.push(chunk_frame(v, "profile", "OrderHistory", true));
        let argument = format!("/account/orders?page={}", v.int(1, 9));
        let (mut event, browser) = browser_event(v, argument);
        let value = undefined_property(browser, "orders", "items");
        event.exceptions = vec![exception("TypeError", Some(value), frames)];
        event
    });

    c.bug("js-chunk-load", 10, |v| {
        let chunk = v.int(100, 999);
        let frames = vec![
            chunk_frame(v, "runtime-main", "__webpack_require__.e", true),
            chunk_frame(v, "runtime-main", "Array.reduce", false),
            chunk_frame(v, "runtime-main", "__webpack_require__.f.j", true),
        ];
        let (mut event, _) = browser_event(v, "/checkout".into());
        let value = format!(
            "Loading chunk {chunk} failed.\n(error: https://shop.example.com/static/js/{chunk}.{}.chunk.js)",
            v.hex(8)
        );
        event.exceptions = vec![exception("ChunkLoadError", Some(value), frames)];
        event
    });

    c.bug("js-admin-fetch-failed", 12, |v| {
        let mut frames = vec![
            vite_frame(v, "loadDashboard"),
            vite_frame(v, "fetchMetrics"),
        ];
        if v.chance(0.5) {
            frames.push(vite_frame(v, "async Promise.all"));
        }
        frames.push(vite_frame(v, "apiRequest"));
        let (mut event, browser) = browser_event(v, "/dashboard".into());
        let value = match browser {
            "Firefox" => "NetworkError when attempting to fetch resource.",
            "Safari" => "Load failed",
            _ => "Failed to fetch",
        };
        event.exceptions = vec![exception("TypeError", Some(value.into()), frames)];
        event
    });

    c.bug("js-coupon-invalid", 7, |v| {
        let mut frames = react(v);
        frames.push(chunk_frame(
            v,
            "checkout",
            "HTMLFormElement.<anonymous>",
            true,
        ));
        frames.push(chunk_frame(v, "checkout", "CouponForm.handleSubmit", true));
        if v.chance(0.5) {
            frames.push(chunk_frame(v, "checkout", "<anonymous>", true));
        }
        frames.push(chunk_frame(v, "checkout", "validateCoupon", true));
        let (mut event, _) = browser_event(v, "/checkout".into());
        let code = v.hex(6).to_uppercase();
        event.exceptions = vec![exception(
            "Error",
            Some(format!("Invalid coupon format: {code}")),
            frames,
        )];
        event
    });

    c.bug("js-resize-observer", 9, |v| {
        let path = v
            .pick(&["/", "/cart", "/products/blue-shoes", "/search?q=shoes"])
            .to_string();
        let (mut event, _) = browser_event(v, path);
        let value = "ResizeObserver loop completed with undelivered notifications.".to_owned();
        event.exceptions = vec![exception("Error", Some(value), vec![])];
        event
    });

    // Minified code without source maps: the frames only name the bundle.
    c.bug("js-minified-map-not-function", 8, |v| {
        let mut frames = react(v);
        for function in ["t", "Xe", "i"] {
            frames.push(chunk_frame(v, "main", function, true));
        }
        let (mut event, _) = browser_event(v, "/products".into());
        event.exceptions = vec![exception(
            "TypeError",
            Some("e.map is not a function".into()),
            frames,
        )];
        event
    });
    c.bug("js-minified-tofixed-not-function", 6, |v| {
        let mut frames = react(v);
        for function in ["n", "Qr"] {
            frames.push(chunk_frame(v, "main", function, true));
        }
        let (mut event, _) = browser_event(v, "/cart".into());
        event.exceptions = vec![exception(
            "TypeError",
            Some("n.toFixed is not a function".into()),
            frames,
        )];
        event
    });

    c.bug("node-pg-pool-timeout", 12, |v| {
        let mut frames = vec![
            node_library("node:internal/timers", "listOnTimeout", 573),
            node_library("node:internal/timers", "process.processTimers", 514),
            node_library(
                "/app/node_modules/pg-pool/index.js",
                "Timeout._onTimeout",
                205,
            ),
        ];
        if v.chance(0.5) {
            frames.push(node_library(
                "node:internal/process/task_queues",
                "process.processTicksAndRejections",
                95,
            ));
        }
        frames.push(node_frame(v, "src/routes/orders.js", "<anonymous>", 18));
        frames.push(node_frame(
            v,
            "src/services/orderService.js",
            "async OrderService.getOrder",
            42,
        ));
        frames.push(node_frame(
            v,
            "src/repositories/orderRepository.js",
            "async OrderRepository.findById",
            27,
        ));
        for (file, function) in [
            ("pg/lib/client.js", "Client._handleErrorEvent"),
            ("pg/lib/connection.js", "Connection.emit"),
            ("pg-pool/index.js", "Pool._acquireClient"),
            ("pg-pool/index.js", "BoundPool.connect"),
        ] {
            if v.chance(0.7) {
                frames.push(node_library(
                    &format!("/app/node_modules/{file}"),
                    function,
                    120,
                ));
            }
        }
        // V8 keeps the innermost 10 frames (Error.stackTraceLimit): outer ones fall off.
        if frames.len() > 10 {
            frames.drain(..frames.len() - 10);
        }
        let argument = format!("/orders/{}", v.id());
        let mut event = node_event(v, "GET", argument);
        let value = "Connection terminated due to connection timeout".to_owned();
        event.exceptions = vec![exception("Error", Some(value), frames)];
        event
    });

    // Node 20 words JSON errors differently from Node 18: a runtime upgrade mid-corpus.
    c.bug("node-shipping-json-parse", 10, |v| {
        let frames = vec![
            node_frame(
                v,
                "src/controllers/checkoutController.js",
                "async CheckoutController.quote",
                63,
            ),
            node_frame(
                v,
                "src/integrations/shippingClient.js",
                "async ShippingClient.getRates",
                31,
            ),
            node_frame(
                v,
                "src/integrations/shippingClient.js",
                "ShippingClient.parseResponse",
                77,
            ),
            node_library("<anonymous>", "JSON.parse", 1),
        ];
        let mut event = node_event(v, "POST", "/checkout/quote".into());
        let value = if v.deploy >= 3 {
            "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON".to_owned()
        } else {
            "Unexpected token < in JSON at position 0".to_owned()
        };
        event.exceptions = vec![exception("SyntaxError", Some(value), frames)];
        event
    });

    c.bug("node-user-validation", 6, |v| {
        let frames = vec![
            node_library(
                "/app/node_modules/express/lib/router/layer.js",
                "Layer.handle [as handle_request]",
                95,
            ),
            node_frame(
                v,
                "src/controllers/userController.js",
                "async UserController.create",
                22,
            ),
            node_frame(v, "src/validators/user.js", "validateUser", 9),
        ];
        let mut event = node_event(v, "POST", "/users".into());
        let field = v.pick(&["email", "name", "password"]).to_string();
        let value = format!("Validation failed: {field} is required");
        event.exceptions = vec![exception("ValidationError", Some(value), frames)];
        event
    });
}
