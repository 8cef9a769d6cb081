//! Python corpus: a Django/DRF shop with Celery workers.

use super::{base, exception, frame, os, request, runtime, Corpus, CHROME, FIREFOX, V};
use stackhouse_protocol::{ErrorEvent, Exception, Frame};

fn py(v: &mut V, module: &str, function: &str, line: u32, in_app: bool) -> Frame {
    let filename = format!("{}.py", module.replace('.', "/"));
    let abs_path = if in_app {
        let root = match v.int(0, 2) {
            0 => "/srv/app".to_owned(),
            1 => "/app".to_owned(),
            _ => format!("/home/deploy/shop/releases/2024011{}0931", v.deploy),
        };
        format!("{root}/{filename}")
    } else {
        format!(
            "/usr/local/lib/python3.{}/site-packages/{filename}",
            11 + v.deploy % 2
        )
    };
    let line = if in_app {
        v.line(line)
    } else {
        line + v.int(0, 40) as u32
    };
    frame(
        Some(module),
        function,
        &filename,
        Some(abs_path),
        line,
        in_app,
    )
}

/// Django's request handling, with a varying number of middleware layers.
fn django(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![py(v, "django.core.handlers.exception", "inner", 55, false)];
    for _ in 0..v.int(1, 4) {
        frames.push(py(v, "django.utils.deprecation", "__call__", 134, false));
        frames.push(py(v, "django.core.handlers.exception", "inner", 55, false));
    }
    frames.push(py(
        v,
        "django.core.handlers.base",
        "_get_response",
        197,
        false,
    ));
    frames.push(py(
        v,
        "django.views.decorators.csrf",
        "_view_wrapper",
        65,
        false,
    ));
    frames.push(py(v, "django.views.generic.base", "view", 104, false));
    frames.push(py(v, "rest_framework.views", "dispatch", 509, false));
    frames
}

fn celery(v: &mut V) -> Vec<Frame> {
    vec![
        py(v, "celery.app.trace", "trace_task", 477, false),
        py(v, "celery.app.trace", "__protected_call__", 760, false),
    ]
}

fn web_event(v: &mut V, path: String) -> ErrorEvent {
    let mut event = base("python", "shop-api", v);
    let agent = if v.chance(0.5) { CHROME } else { FIREFOX };
    request(
        &mut event,
        "POST",
        format!("https://shop.example.com{path}"),
        agent,
    );
    runtime(&mut event, "CPython", "3.12.1");
    os(&mut event, "Linux");
    event.transaction = Some(path);
    event
}

fn with(mut event: ErrorEvent, exceptions: Vec<Exception>) -> ErrorEvent {
    event.exceptions = exceptions;
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("py-settings-keyerror", 14, |v| {
        let mut frames = django(v);
        frames.push(py(
            v,
            "app.api.views.settings",
            "SettingsView.get",
            41,
            true,
        ));
        frames.push(py(
            v,
            "app.services.settings",
            "load_user_settings",
            88,
            true,
        ));
        frames.push(py(v, "app.services.settings", "_read_flag", 23, true));
        let flag = format!(
            "'{}'",
            v.pick(&["beta_checkout", "dark_mode", "new_search", "gift_cards"])
        );
        let argument = format!("/api/users/{}/settings", v.id());
        let event = web_event(v, argument);
        with(event, vec![exception("KeyError", Some(flag), frames)])
    });

    // Same exception type, another place: a different bug.
    c.bug("py-discount-keyerror", 9, |v| {
        let mut frames = django(v);
        frames.push(py(v, "app.api.views.cart", "CartView.post", 77, true));
        frames.push(py(v, "app.services.orders", "apply_discount", 140, true));
        let argument = format!("/api/carts/{}/discount", v.uuid());
        let event = web_event(v, argument);
        with(
            event,
            vec![exception(
                "KeyError",
                Some("'discount_code'".into()),
                frames,
            )],
        )
    });

    // A chain: the driver's error, then Django's wrapper (root cause first).
    c.bug("py-signup-integrity", 11, |v| {
        let email = v.email();
        let detail = format!(
            "duplicate key value violates unique constraint \"accounts_user_email_key\"\nDETAIL:  Key (email)=({email}) already exists."
        );
        let mut root_frames = vec![py(v, "django.db.backends.utils", "_execute", 89, false)];
        if v.chance(0.5) {
            root_frames.insert(0, py(v, "django.db.backends.utils", "_execute_with_wrappers", 80, false));
        }
        let mut outer_frames = django(v);
        outer_frames.push(py(v, "app.api.views.accounts", "SignupView.post", 30, true));
        outer_frames.push(py(v, "app.services.accounts", "create_user", 57, true));
        outer_frames.push(py(v, "django.db.models.base", "save", 814, false));
        outer_frames.push(py(v, "django.db.backends.utils", "execute", 67, false));
        let event = web_event(v, "/api/signup".into());
        with(
            event,
            vec![
                exception("psycopg2.errors.UniqueViolation", Some(detail.clone()), root_frames),
                exception("django.db.utils.IntegrityError", Some(detail), outer_frames),
            ],
        )
    });

    c.bug("py-stripe-timeout", 12, |v| {
        let mut frames = celery(v);
        frames.push(py(v, "app.tasks.billing", "sync_invoices", 31, true));
        frames.push(py(v, "app.integrations.stripe", "fetch_invoices", 64, true));
        frames.push(py(v, "app.integrations.stripe", "StripeClient._request", 112, true));
        frames.push(py(v, "requests.sessions", "request", 589, false));
        frames.push(py(v, "requests.sessions", "send", 703, false));
        frames.push(py(v, "requests.adapters", "send", 532, false));
        let mut event = base("python", "shop-worker", v);
        event.transaction = Some("app.tasks.billing.sync_invoices".into());
        runtime(&mut event, "CPython", "3.12.1");
        let value = format!(
            "HTTPSConnectionPool(host='api.stripe.com', port=443): Read timed out. (read timeout={})",
            v.pick(&[10, 30, 60])
        );
        with(event, vec![exception("requests.exceptions.ReadTimeout", Some(value), frames)])
    });

    c.bug("py-tree-recursion", 8, |v| {
        let mut frames = django(v);
        frames.push(py(
            v,
            "app.api.views.catalog",
            "CategoryTreeView.get",
            19,
            true,
        ));
        frames.push(py(v, "app.utils.tree", "flatten", 12, true));
        for _ in 0..v.int(20, 300) {
            frames.push(py(v, "app.utils.tree", "flatten", 15, true));
        }
        let argument = format!("/api/categories/{}/tree", v.id());
        let event = web_event(v, argument);
        let value = "maximum recursion depth exceeded while calling a Python object".to_owned();
        with(
            event,
            vec![exception("RecursionError", Some(value), frames)],
        )
    });

    // Two bugs with the very same message, in different code.
    c.bug("py-welcome-none-email", 10, |v| {
        let mut frames = celery(v);
        frames.push(py(v, "app.tasks.notifications", "send_welcome", 22, true));
        frames.push(py(v, "app.notifications.email", "render_welcome", 48, true));
        let mut event = base("python", "shop-worker", v);
        event.transaction = Some("app.tasks.notifications.send_welcome".into());
        let value = "'NoneType' object has no attribute 'email'".to_owned();
        with(
            event,
            vec![exception("AttributeError", Some(value), frames)],
        )
    });
    c.bug("py-serializer-none-email", 7, |v| {
        let mut frames = django(v);
        frames.push(py(v, "app.api.views.users", "UserDetailView.get", 52, true));
        frames.push(py(
            v,
            "rest_framework.serializers",
            "to_representation",
            522,
            false,
        ));
        frames.push(py(
            v,
            "rest_framework.fields",
            "to_representation",
            1838,
            false,
        ));
        frames.push(py(
            v,
            "app.api.serializers",
            "UserSerializer.get_contact",
            93,
            true,
        ));
        let argument = format!("/api/users/{}", v.id());
        let event = web_event(v, argument);
        let value = "'NoneType' object has no attribute 'email'".to_owned();
        with(
            event,
            vec![exception("AttributeError", Some(value), frames)],
        )
    });

    c.bug("py-report-range-parse", 6, |v| {
        let mut frames = django(v);
        frames.push(py(v, "app.api.views.reports", "ReportView.get", 36, true));
        frames.push(py(v, "app.reports.params", "parse_range", 14, true));
        let bad = v
            .pick(&["'abc'", "'12x'", "''", "'2024-13'", "'last week'"])
            .to_string();
        let argument = format!("/api/reports/sales?from={}", v.id());
        let event = web_event(v, argument);
        let value = format!("invalid literal for int() with base 10: {bad}");
        with(event, vec![exception("ValueError", Some(value), frames)])
    });

    // A second raise site in the same function: a different bug that stack grouping (which
    // never looks at line numbers) cannot tell from the one above.
    c.bug("py-report-range-order", 5, |v| {
        let mut frames = django(v);
        frames.push(py(v, "app.api.views.reports", "ReportView.get", 36, true));
        frames.push(py(v, "app.reports.params", "parse_range", 29, true));
        let argument = format!("/api/reports/sales?from={}", v.id());
        let event = web_event(v, argument);
        let value = format!("start {} is after end {}", v.int(10, 28), v.int(1, 9));
        with(event, vec![exception("ValueError", Some(value), frames)])
    });

    // Two different upstream failures surfacing through one HTTP helper: same type, same
    // innermost frames, different callers and messages.
    c.bug("py-upstream-inventory-503", 8, |v| {
        let mut frames = celery(v);
        frames.push(py(v, "app.tasks.stock", "refresh_stock", 12, true));
        frames.push(py(v, "app.services.stock", "refresh", 40, true));
        frames.push(py(v, "app.integrations.http", "HttpClient.get", 61, true));
        frames.push(py(
            v,
            "app.integrations.http",
            "HttpClient._raise_for_status",
            90,
            true,
        ));
        let mut event = base("python", "shop-worker", v);
        event.transaction = Some("app.tasks.stock.refresh_stock".into());
        let value = format!(
            "inventory service returned 503 Service Unavailable for /v1/stock/{}",
            v.id()
        );
        with(
            event,
            vec![exception(
                "app.integrations.http.UpstreamError",
                Some(value),
                frames,
            )],
        )
    });
    c.bug("py-upstream-payments-402", 7, |v| {
        let mut frames = django(v);
        frames.push(py(
            v,
            "app.api.views.checkout",
            "PaymentView.post",
            20,
            true,
        ));
        frames.push(py(v, "app.services.billing", "charge", 75, true));
        frames.push(py(v, "app.integrations.http", "HttpClient.post", 70, true));
        frames.push(py(
            v,
            "app.integrations.http",
            "HttpClient._raise_for_status",
            90,
            true,
        ));
        let event = web_event(v, "/api/checkout/pay".into());
        let value = format!(
            "payments service returned 402 Payment Required for /v2/charges/{}",
            v.uuid()
        );
        with(
            event,
            vec![exception(
                "app.integrations.http.UpstreamError",
                Some(value),
                frames,
            )],
        )
    });

    // A refactor between deploys renamed a function in the middle of the stack: the fingerprint
    // changes, the bug does not.
    c.bug("py-pricing-zero-division", 10, |v| {
        let total = if v.deploy >= 3 {
            "calculate_total"
        } else {
            "compute_total"
        };
        let mut frames = django(v);
        frames.push(py(
            v,
            "app.api.views.checkout",
            "CheckoutView.post",
            44,
            true,
        ));
        frames.push(py(v, "app.services.checkout", "place_order", 71, true));
        frames.push(py(v, "app.services.pricing", total, 102, true));
        frames.push(py(v, "app.services.pricing", "unit_price", 130, true));
        let event = web_event(v, "/api/checkout".into());
        with(
            event,
            vec![exception(
                "ZeroDivisionError",
                Some("division by zero".into()),
                frames,
            )],
        )
    });

    // Log messages, no exception: the template groups them.
    c.bug("py-webhook-signature-log", 8, |v| {
        let mut event = base("python", "shop-api", v);
        event.level = stackhouse_protocol::Level::Warning;
        event.logger = Some("app.webhooks".into());
        let account = format!("acct_{}", v.hex(16));
        event.message = Some(format!(
            "Payment webhook signature mismatch for account {account}"
        ));
        event.message_template = Some("Payment webhook signature mismatch for account %s".into());
        event
    });
    c.bug("py-slow-query-log", 7, |v| {
        let mut event = base("python", "shop-api", v);
        event.logger = Some("app.db".into());
        event.message = Some(format!(
            "Slow query detected: took {}ms\nSELECT * FROM orders WHERE customer_id = {} AND created_at > '2024-01-{:02}'\nplan: seq scan",
            v.int(1200, 9000),
            v.id(),
            v.int(1, 28)
        ));
        event
    });
}
