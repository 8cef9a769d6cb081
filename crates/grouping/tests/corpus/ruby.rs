//! Ruby corpus: a Rails app with Sidekiq (blocks, compiled templates, gem versions in paths).

use super::{base, exception, frame, os, request, runtime, Corpus, CHROME, SAFARI, V};
use stackhouse_protocol::{ErrorEvent, Frame};

fn app(v: &mut V, file: &str, function: &str, line: u32) -> Frame {
    let abs_path = format!("/rails/releases/2024030{}120000/{file}", v.deploy);
    frame(None, function, file, Some(abs_path), v.line(line), true)
}

fn gem(v: &mut V, gem: &str, file: &str, function: &str, line: u32) -> Frame {
    let version = format!("{gem}-7.1.{}", 2 + v.deploy % 2);
    let path = format!("/usr/local/bundle/gems/{version}/{file}");
    frame(None, function, &path, Some(path.clone()), line, false)
}

fn rails(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        gem(
            v,
            "puma",
            "lib/puma/thread_pool.rb",
            "block in spawn_thread",
            155,
        ),
        gem(v, "railties", "lib/rails/engine.rb", "call", 529),
    ];
    for middleware in [
        "rack/lib/rack/etag.rb",
        "rack/lib/rack/conditional_get.rb",
        "rack/lib/rack/head.rb",
    ] {
        if v.chance(0.6) {
            frames.push(gem(v, "rack", middleware, "call", 27));
        }
    }
    frames.push(gem(
        v,
        "actionpack",
        "lib/action_controller/metal.rb",
        "dispatch",
        227,
    ));
    frames.push(gem(
        v,
        "actionpack",
        "lib/abstract_controller/callbacks.rb",
        "block in process_action",
        260,
    ));
    frames
}

/// Ruby 3.4 stopped printing the receiver's class after `for nil`.
fn nil_message(v: &V, method: &str) -> String {
    if v.deploy >= 3 {
        format!("undefined method '{method}' for nil")
    } else {
        format!("undefined method `{method}' for nil:NilClass")
    }
}

fn web_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("ruby", "shop-rails", v);
    let agent = if v.chance(0.5) { CHROME } else { SAFARI };
    request(
        &mut event,
        method,
        format!("https://rails.shop.example.com{path}"),
        agent,
    );
    runtime(
        &mut event,
        "ruby",
        if v.deploy >= 3 { "3.4.1" } else { "3.3.0" },
    );
    os(&mut event, "Linux");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("rb-order-names-nil", 14, |v| {
        let mut frames = rails(v);
        frames.push(app(v, "app/controllers/orders_controller.rb", "show", 12));
        frames.push(app(v, "app/models/order.rb", "item_names", 40));
        frames.push(gem(
            v,
            "activerecord",
            "lib/active_record/relation/delegation.rb",
            "each",
            100,
        ));
        let block = if v.chance(0.5) {
            "block in item_names"
        } else {
            "block (2 levels) in item_names"
        };
        frames.push(app(v, "app/models/order.rb", block, 42));
        let value = nil_message(v, "name");
        let argument = format!("/orders/{}", v.id());
        let mut event = web_event(v, "GET", argument);
        event.exceptions = vec![exception("NoMethodError", Some(value), frames)];
        event
    });

    // The same message in a helper: another bug.
    c.bug("rb-display-name-nil", 8, |v| {
        let mut frames = rails(v);
        frames.push(app(v, "app/controllers/users_controller.rb", "index", 8));
        frames.push(app(v, "app/helpers/users_helper.rb", "display_name", 5));
        let value = nil_message(v, "name");
        let mut event = web_event(v, "GET", "/users".into());
        event.exceptions = vec![exception("NoMethodError", Some(value), frames)];
        event
    });

    c.bug("rb-user-not-found", 10, |v| {
        let mut frames = rails(v);
        frames.push(app(
            v,
            "app/controllers/users_controller.rb",
            "set_user",
            61,
        ));
        frames.push(gem(
            v,
            "activerecord",
            "lib/active_record/core.rb",
            "find",
            253,
        ));
        let id = v.id();
        let mut event = web_event(v, "GET", format!("/users/{id}"));
        let value = format!("Couldn't find User with 'id'={id}");
        event.exceptions = vec![exception(
            "ActiveRecord::RecordNotFound",
            Some(value),
            frames,
        )];
        event
    });

    // A template error: compiled template method names carry ids; the class is anonymous.
    c.bug("rb-cart-template-name-error", 9, |v| {
        let template = format!("_app_views_carts_show_html_erb__{}_{}", v.int(100_000_000, 999_999_999), v.int(10_000, 99_999));
        let address = format!("0x0000{}", v.hex(12));
        let value = format!("undefined local variable or method 'current_cart' for an instance of #<Class:{address}>");
        let mut frames = rails(v);
        frames.push(app(v, "app/controllers/carts_controller.rb", "show", 9));
        frames.push(gem(v, "actionview", "lib/action_view/template.rb", "render", 261));
        frames.push(app(v, "app/views/carts/show.html.erb", &template, 14));
        let mut event = web_event(v, "GET", "/cart".into());
        event.exceptions = vec![
            exception("NameError", Some(value.clone()), vec![]),
            exception("ActionView::Template::Error", Some(value), frames),
        ];
        event
    });

    // Reached from a controller or from a Sidekiq job.
    c.bug("rb-shipping-read-timeout", 11, |v| {
        let mut frames = if v.chance(0.5) {
            let mut frames = rails(v);
            frames.push(app(
                v,
                "app/controllers/checkouts_controller.rb",
                "update",
                33,
            ));
            frames
        } else {
            vec![
                gem(v, "sidekiq", "lib/sidekiq/processor.rb", "execute_job", 220),
                app(v, "app/jobs/shipping_rates_job.rb", "perform", 7),
            ]
        };
        frames.push(app(v, "app/services/shipping_rates.rb", "fetch", 25));
        frames.push(app(
            v,
            "app/services/shipping_rates.rb",
            "rescue in fetch",
            31,
        ));
        frames.push(gem(
            v,
            "net-protocol",
            "lib/net/protocol.rb",
            "rbuf_fill",
            229,
        ));
        let mut event = web_event(v, "PATCH", "/checkout".into());
        event.exceptions = vec![exception(
            "Net::ReadTimeout",
            Some("Net::ReadTimeout with #<TCPSocket:(closed)>".into()),
            frames,
        )];
        event
    });

    c.bug("rb-sidekiq-retries-exhausted", 7, |v| {
        let mut event = base("ruby", "shop-rails", v);
        event.logger = Some("sidekiq".into());
        event.message = Some(format!(
            "Job retries exhausted for InvoiceMailerJob with jid {} after {} attempts",
            v.hex(24),
            v.int(20, 25)
        ));
        event
    });
}
