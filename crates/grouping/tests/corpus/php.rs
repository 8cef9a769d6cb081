//! PHP corpus: a Laravel shop (namespaced functions, closures, anonymous classes, release directories).

use super::{base, exception, frame, os, request, runtime, Corpus, CHROME, FIREFOX, V};
use stackhouse_protocol::{ErrorEvent, Frame};

fn release_root(v: &V) -> String {
    format!("/var/www/shop/releases/2024040{}093000", v.deploy)
}

fn app(v: &mut V, file: &str, function: &str, line: u32) -> Frame {
    let path = format!("{}/{file}", release_root(v));
    frame(
        None,
        function,
        &path,
        Some(path.clone()),
        v.line(line),
        true,
    )
}

fn vendor(v: &mut V, file: &str, function: &str, line: u32) -> Frame {
    let path = format!("{}/vendor/{file}", release_root(v));
    frame(None, function, &path, Some(path.clone()), line, false)
}

fn laravel(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        app(v, "public/index.php", "[main]", 51),
        vendor(
            v,
            "laravel/framework/src/Illuminate/Foundation/Http/Kernel.php",
            "Illuminate\\Foundation\\Http\\Kernel::handle",
            145,
        ),
    ];
    for middleware in [
        "TrimStrings",
        "ValidatePostSize",
        "PreventRequestsDuringMaintenance",
    ] {
        if v.chance(0.6) {
            frames.push(vendor(
                v,
                &format!(
                    "laravel/framework/src/Illuminate/Foundation/Http/Middleware/{middleware}.php"
                ),
                &format!("Illuminate\\Foundation\\Http\\Middleware\\{middleware}::handle"),
                40,
            ));
            frames.push(vendor(
                v,
                "laravel/framework/src/Illuminate/Pipeline/Pipeline.php",
                "Illuminate\\Pipeline\\Pipeline::Illuminate\\Pipeline\\{closure}",
                183,
            ));
        }
    }
    frames.push(vendor(
        v,
        "laravel/framework/src/Illuminate/Routing/Controller.php",
        "Illuminate\\Routing\\Controller::callAction",
        54,
    ));
    frames
}

fn web_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("php", "shop-laravel", v);
    let agent = if v.chance(0.5) { CHROME } else { FIREFOX };
    request(
        &mut event,
        method,
        format!("https://php.shop.example.com{path}"),
        agent,
    );
    runtime(&mut event, "php", "8.3.2");
    os(&mut event, "Linux");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("php-checkout-undefined-key", 13, |v| {
        let mut frames = laravel(v);
        frames.push(app(
            v,
            "app/Http/Controllers/CheckoutController.php",
            "App\\Http\\Controllers\\CheckoutController::store",
            48,
        ));
        frames.push(app(
            v,
            "app/Services/AddressFormatter.php",
            "App\\Services\\AddressFormatter::format",
            20,
        ));
        let mut event = web_event(v, "POST", "/checkout".into());
        event.exceptions = vec![exception(
            "ErrorException",
            Some("Undefined array key \"id\"".into()),
            frames,
        )];
        event
    });

    // Same type and message, elsewhere.
    c.bug("php-inventory-undefined-key", 9, |v| {
        let mut frames = laravel(v);
        frames.push(app(
            v,
            "app/Http/Controllers/CartController.php",
            "App\\Http\\Controllers\\CartController::add",
            30,
        ));
        frames.push(app(
            v,
            "app/Services/InventoryService.php",
            "App\\Services\\InventoryService::reserve",
            66,
        ));
        let argument = format!("/cart/items/{}", v.id());
        let mut event = web_event(v, "POST", argument);
        event.exceptions = vec![exception(
            "ErrorException",
            Some("Undefined array key \"id\"".into()),
            frames,
        )];
        event
    });

    c.bug("php-price-type-error", 10, |v| {
        let mut frames = laravel(v);
        frames.push(app(v, "app/Http/Controllers/CartController.php", "App\\Http\\Controllers\\CartController::update", 42));
        frames.push(app(v, "app/Services/PriceCalculator.php", "App\\Services\\PriceCalculator::calculate", 15));
        let value = format!(
            "App\\Services\\PriceCalculator::calculate(): Argument #1 ($amount) must be of type float, string given, called in {}/app/Http/Controllers/CartController.php on line {}",
            release_root(v),
            v.line(42)
        );
        let argument = format!("/cart/items/{}", v.id());
        let mut event = web_event(v, "PATCH", argument);
        event.exceptions = vec![exception("TypeError", Some(value), frames)];
        event
    });

    // PDO's deadlock, wrapped by Laravel's QueryException; the transaction runs in a closure.
    c.bug("php-stock-deadlock", 11, |v| {
        let mut frames = laravel(v);
        frames.push(app(v, "app/Http/Controllers/OrderController.php", "App\\Http\\Controllers\\OrderController::store", 37));
        frames.push(app(v, "app/Services/OrderService.php", "App\\Services\\OrderService::place", 58));
        frames.push(vendor(v, "laravel/framework/src/Illuminate/Database/Concerns/ManagesTransactions.php", "Illuminate\\Database\\Connection::transaction", 35));
        frames.push(app(v, "app/Services/OrderService.php", "App\\Services\\{closure}", 61));
        frames.push(app(v, "app/Repositories/StockRepository.php", "App\\Repositories\\StockRepository::decrement", 24));
        frames.push(vendor(v, "laravel/framework/src/Illuminate/Database/Connection.php", "Illuminate\\Database\\Connection::runQueryCallback", 813));
        let (qty, id) = (v.int(0, 40), v.id());
        let pdo = "SQLSTATE[40001]: Serialization failure: 1213 Deadlock found when trying to get lock; try restarting transaction".to_owned();
        let query = format!("{pdo} (Connection: mysql, SQL: update `stock` set `qty` = {qty} where `id` = {id})");
        let mut event = web_event(v, "POST", "/orders".into());
        event.exceptions = vec![
            exception("PDOException", Some(pdo), vec![]),
            exception("Illuminate\\Database\\QueryException", Some(query), frames),
        ];
        event
    });

    // An event listener written as an anonymous class: its name embeds the release path.
    c.bug("php-anonymous-listener", 8, |v| {
        let mut frames = laravel(v);
        frames.push(vendor(
            v,
            "laravel/framework/src/Illuminate/Events/Dispatcher.php",
            "Illuminate\\Events\\Dispatcher::dispatch",
            268,
        ));
        let listener = format!(
            "class@anonymous{}/app/Providers/EventServiceProvider.php:31$0::handle",
            release_root(v)
        );
        frames.push(app(
            v,
            "app/Providers/EventServiceProvider.php",
            &listener,
            35,
        ));
        let mut event = web_event(v, "POST", "/orders".into());
        let value = format!("Loyalty points service unavailable for customer {}", v.id());
        event.exceptions = vec![exception("RuntimeException", Some(value), frames)];
        event
    });

    // Fatal errors come without a stack.
    c.bug("php-memory-exhausted", 8, |v| {
        let argument = format!("/reports/export?month={}", v.int(1, 12));
        let mut event = web_event(v, "GET", argument);
        let value = format!(
            "Allowed memory size of 134217728 bytes exhausted (tried to allocate {} bytes)",
            v.pick(&[20480, 4096, 65536, 2097160])
        );
        event.exceptions = vec![exception(
            "Symfony\\Component\\ErrorHandler\\Error\\FatalError",
            Some(value),
            vec![],
        )];
        event
    });
}
