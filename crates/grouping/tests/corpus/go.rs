//! Go corpus: an HTTP API and a worker (net/http, closures, generics, stackless wrapped errors).

use super::{base, exception, frame, os, request, runtime, Corpus, V};
use stackhouse_protocol::{ErrorEvent, Frame};

fn go(v: &mut V, package: &str, function: &str, file: &str, line: u32, in_app: bool) -> Frame {
    let abs_path = if in_app {
        format!(
            "/build/{}/{file}",
            package.trim_start_matches("github.com/acme/")
        )
    } else if package.contains('.') {
        format!("/go/pkg/mod/{package}@v1.{}.0/{file}", v.deploy % 2 + 8)
    } else {
        format!("/usr/local/go/src/{package}/{file}")
    };
    let line = if in_app { v.line(line) } else { line };
    frame(Some(package), function, file, Some(abs_path), line, in_app)
}

fn net_http(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        go(v, "net/http", "(*conn).serve", "server.go", 2009, false),
        go(
            v,
            "net/http",
            "serverHandler.ServeHTTP",
            "server.go",
            2938,
            false,
        ),
    ];
    if v.chance(0.5) {
        frames.push(go(
            v,
            "github.com/go-chi/chi/v5/middleware",
            "Recoverer.func1",
            "recoverer.go",
            45,
            false,
        ));
    }
    frames.push(go(
        v,
        "github.com/go-chi/chi/v5",
        "(*Mux).ServeHTTP",
        "mux.go",
        90,
        false,
    ));
    frames.push(go(
        v,
        "net/http",
        "HandlerFunc.ServeHTTP",
        "server.go",
        2136,
        false,
    ));
    frames
}

/// Closures are numbered in source order: adding one above shifts the numbers.
fn closure(v: &V, function: &str) -> String {
    format!("{function}.func{}", 1 + v.deploy % 3)
}

fn api_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("go", "shop-go-api", v);
    request(
        &mut event,
        method,
        format!("https://api.shop.example.com{path}"),
        "Go-http-client/2.0",
    );
    runtime(&mut event, "go", "go1.22.0");
    os(&mut event, "linux");
    event
}

fn worker_event(v: &mut V) -> ErrorEvent {
    let mut event = base("go", "shop-go-worker", v);
    runtime(&mut event, "go", "go1.22.0");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("go-cart-nil-map", 13, |v| {
        let mut frames = net_http(v);
        frames.push(go(
            v,
            "github.com/acme/shop/internal/api",
            "(*Server).handleAddItem",
            "cart.go",
            41,
            true,
        ));
        frames.push(go(
            v,
            "github.com/acme/shop/internal/cart",
            "(*Service).AddItem",
            "service.go",
            77,
            true,
        ));
        let inner = closure(v, "(*Service).AddItem");
        frames.push(go(
            v,
            "github.com/acme/shop/internal/cart",
            &inner,
            "service.go",
            83,
            true,
        ));
        frames.push(go(
            v,
            "runtime",
            "mapassign_faststr",
            "map_faststr.go",
            205,
            false,
        ));
        let argument = format!("/carts/{}/items", v.uuid());
        let mut event = api_event(v, "POST", argument);
        event.exceptions = vec![exception(
            "runtime.plainError",
            Some("assignment to entry in nil map".into()),
            frames,
        )];
        event
    });

    c.bug("go-pricing-index-out-of-range", 9, |v| {
        let mut frames = net_http(v);
        frames.push(go(
            v,
            "github.com/acme/shop/internal/api",
            "(*Server).handleQuote",
            "quote.go",
            30,
            true,
        ));
        frames.push(go(
            v,
            "github.com/acme/shop/internal/pricing",
            "applyTiers",
            "tiers.go",
            58,
            true,
        ));
        let mut event = api_event(v, "POST", "/quotes".into());
        let (index, length) = (v.int(3, 9), v.int(0, 3));
        let value = format!("runtime error: index out of range [{index}] with length {length}");
        event.exceptions = vec![exception("runtime.boundsError", Some(value), frames)];
        event
    });

    // Two nil dereferences, same type and message, different code.
    c.bug("go-lru-nil-deref", 8, |v| {
        let mut frames = net_http(v);
        frames.push(go(
            v,
            "github.com/acme/shop/internal/api",
            "(*Server).handleProduct",
            "product.go",
            22,
            true,
        ));
        frames.push(go(
            v,
            "github.com/acme/shop/internal/cache",
            "(*LRU[...]).Get",
            "lru.go",
            64,
            true,
        ));
        let argument = format!("/products/{}", v.id());
        let mut event = api_event(v, "GET", argument);
        let value = "runtime error: invalid memory address or nil pointer dereference".to_owned();
        event.exceptions = vec![exception("runtime.errorString", Some(value), frames)];
        event
    });
    c.bug("go-auth-nil-deref", 8, |v| {
        let mut frames = net_http(v);
        frames.push(go(
            v,
            "github.com/acme/shop/internal/auth",
            "(*Middleware).Handler-fm",
            "middleware.go",
            31,
            true,
        ));
        let inner = closure(v, "(*Middleware).Handler");
        frames.push(go(
            v,
            "github.com/acme/shop/internal/auth",
            &inner,
            "middleware.go",
            48,
            true,
        ));
        frames.push(go(
            v,
            "github.com/acme/shop/internal/auth",
            "claimsFromToken",
            "jwt.go",
            90,
            true,
        ));
        let argument = format!("/me/orders?limit={}", v.int(10, 50));
        let mut event = api_event(v, "GET", argument);
        let value = "runtime error: invalid memory address or nil pointer dereference".to_owned();
        event.exceptions = vec![exception("runtime.errorString", Some(value), frames)];
        event
    });

    // Wrapped errors captured without a stack: only the message tells them apart.
    c.bug("go-user-no-rows", 10, |v| {
        let argument = format!("/users/{}", v.id());
        let mut event = api_event(v, "GET", argument);
        let value = if v.chance(0.5) {
            format!("fetch user {}: sql: no rows in result set", v.id())
        } else {
            let name = v.email().split('@').next().unwrap_or("").to_owned();
            format!("fetch user {name:?}: sql: no rows in result set")
        };
        event.exceptions = vec![exception("*fmt.wrapError", Some(value), vec![])];
        event
    });
    // Same wrapper type and almost the same words as the one above, another lookup: another bug.
    c.bug("go-order-no-rows", 6, |v| {
        let argument = format!("/orders/{}", v.id());
        let mut event = api_event(v, "GET", argument);
        let value = format!("fetch order {}: sql: no rows in result set", v.id());
        event.exceptions = vec![exception("*fmt.wrapError", Some(value), vec![])];
        event
    });
    c.bug("go-charge-declined", 9, |v| {
        let mut event = worker_event(v);
        let value = format!(
            "charge order {}: stripe: card_declined (request req_{}): your card was declined",
            v.id(),
            v.hex(14)
        );
        event.exceptions = vec![exception("*fmt.wrapError", Some(value), vec![])];
        event
    });

    c.bug("go-inventory-deadline", 10, |v| {
        let mut frames = vec![
            go(v, "runtime", "goexit", "asm_amd64.s", 1650, false),
            go(
                v,
                "github.com/acme/shop/internal/worker",
                "(*Pool).run",
                "pool.go",
                66,
                true,
            ),
        ];
        let inner = closure(v, "(*Pool).run");
        frames.push(go(
            v,
            "github.com/acme/shop/internal/worker",
            &inner,
            "pool.go",
            71,
            true,
        ));
        frames.push(go(
            v,
            "github.com/acme/shop/internal/inventory",
            "(*Store).Decrement",
            "store.go",
            120,
            true,
        ));
        let mut event = worker_event(v);
        let sku = format!("{}-{}", v.pick(&["ABC", "XYZ", "SHOE"]), v.int(100, 999));
        let value = format!("update inventory for sku {sku}: context deadline exceeded");
        event.exceptions = vec![exception("*fmt.wrapError", Some(value), frames)];
        event
    });

    c.bug("go-webhook-connection-refused", 9, |v| {
        let mut frames = vec![go(v, "runtime", "goexit", "asm_amd64.s", 1650, false)];
        let send = closure(v, "(*Dispatcher).send");
        frames.push(go(v, "github.com/acme/shop/internal/webhooks", "(*Dispatcher).Run", "dispatcher.go", 52, true));
        frames.push(go(v, "github.com/acme/shop/internal/webhooks", &send, "dispatcher.go", 97, true));
        frames.push(go(v, "net/http", "(*Client).Do", "client.go", 590, false));
        let mut event = worker_event(v);
        let value = format!(
            "Post \"https://hooks.partner.example/v2/events/{}\": dial tcp {}:443: connect: connection refused",
            v.uuid(),
            v.ip()
        );
        event.exceptions = vec![exception("*url.Error", Some(value), frames)];
        event
    });

    c.bug("go-job-retries-message", 8, |v| {
        let mut event = worker_event(v);
        event.level = stackhouse_protocol::Level::Warning;
        event.message = Some(format!(
            "worker {}: job {} retried {} times, giving up",
            v.int(1, 16),
            v.id(),
            v.int(5, 10)
        ));
        event
    });
}
