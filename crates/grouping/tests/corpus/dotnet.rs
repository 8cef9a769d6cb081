//! .NET corpus: an ASP.NET Core API with EF Core (async state machines, lambdas, local functions).

use super::{base, exception, frame, os, request, runtime, Corpus, V};
use stackhouse_protocol::{ErrorEvent, Frame};

fn net(
    v: &mut V,
    module: &str,
    function: &str,
    file: Option<&str>,
    line: u32,
    in_app: bool,
) -> Frame {
    let (filename, line) = match file {
        Some(file) => (format!("/src/Shop.Api/{file}"), v.line(line)),
        None => (String::new(), 0),
    };
    let mut frame = frame(Some(module), function, &filename, None, line, in_app);
    if filename.is_empty() {
        frame.filename = None;
        frame.lineno = None;
    }
    let assembly = if module.starts_with("Shop.") {
        "Shop.Api"
    } else {
        "System.Private.CoreLib"
    };
    frame.package = Some(format!(
        "{assembly}, Version=1.{}.0.0, Culture=neutral, PublicKeyToken=null",
        v.deploy
    ));
    frame
}

/// An async method's frame: the compiler's state machine `<Method>d__N`, whose number moves.
fn async_frame(v: &mut V, class: &str, method: &str, file: &str, line: u32) -> Frame {
    let state_machine = format!("{class}+<{method}>d__{}", 3 + v.deploy % 4);
    net(v, &state_machine, "MoveNext", Some(file), line, true)
}

fn async_plumbing(v: &mut V) -> Frame {
    net(
        v,
        "System.Runtime.CompilerServices.TaskAwaiter",
        "ThrowForNonSuccess",
        None,
        0,
        false,
    )
}

fn aspnet(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        net(v, "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol+<ProcessRequests>d__238`1", "MoveNext", None, 0, false),
        net(v, "Microsoft.AspNetCore.Routing.EndpointMiddleware+<Invoke>g__AwaitRequestTask|7_0>d", "MoveNext", None, 0, false),
    ];
    if v.chance(0.5) {
        frames.push(net(
            v,
            "Microsoft.AspNetCore.Authorization.AuthorizationMiddleware+<Invoke>d__11",
            "MoveNext",
            None,
            0,
            false,
        ));
    }
    frames.push(net(v, "Microsoft.AspNetCore.Mvc.Infrastructure.ControllerActionInvoker+<InvokeActionMethodAsync>g__Logged|12_1>d", "MoveNext", None, 0, false));
    frames.push(async_plumbing(v));
    frames
}

fn web_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("csharp", "shop-dotnet", v);
    request(&mut event, method, format!("https://net.shop.example.com{path}"), "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36");
    runtime(
        &mut event,
        ".NET",
        if v.deploy >= 3 { "8.0.1" } else { "6.0.26" },
    );
    os(&mut event, "Linux");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("net-place-order-nullref", 14, |v| {
        let mut frames = aspnet(v);
        frames.push(async_frame(
            v,
            "Shop.Api.Controllers.OrdersController",
            "Create",
            "Controllers/OrdersController.cs",
            44,
        ));
        frames.push(async_plumbing(v));
        frames.push(async_frame(
            v,
            "Shop.Api.Services.OrderService",
            "PlaceOrderAsync",
            "Services/OrderService.cs",
            87,
        ));
        let mut event = web_event(v, "POST", "/api/orders".into());
        let value = "Object reference not set to an instance of an object.".to_owned();
        event.exceptions = vec![exception(
            "System.NullReferenceException",
            Some(value),
            frames,
        )];
        event
    });

    // Same type and message, a synchronous action elsewhere.
    c.bug("net-get-cart-nullref", 9, |v| {
        let mut frames = aspnet(v);
        frames.push(net(
            v,
            "Shop.Api.Controllers.CartController",
            "GetCart",
            Some("Controllers/CartController.cs"),
            29,
            true,
        ));
        frames.push(net(
            v,
            "Shop.Api.Mapping.CartMapper",
            "ToDto",
            Some("Mapping/CartMapper.cs"),
            16,
            true,
        ));
        let argument = format!("/api/carts/{}", v.uuid());
        let mut event = web_event(v, "GET", argument);
        let value = "Object reference not set to an instance of an object.".to_owned();
        event.exceptions = vec![exception(
            "System.NullReferenceException",
            Some(value),
            frames,
        )];
        event
    });

    // A LINQ lambda: `<GetBestPrice>b__7_0` in the closure class `<>c`, numbered by the compiler.
    c.bug("net-best-price-no-elements", 10, |v| {
        let mut frames = aspnet(v);
        frames.push(async_frame(
            v,
            "Shop.Api.Controllers.PricesController",
            "Get",
            "Controllers/PricesController.cs",
            21,
        ));
        frames.push(net(
            v,
            "Shop.Api.Services.PricingService",
            "GetBestPrice",
            Some("Services/PricingService.cs"),
            55,
            true,
        ));
        frames.push(net(
            v,
            "System.Linq.Enumerable",
            "First[TSource](IEnumerable`1 source, Func`2 predicate)",
            None,
            0,
            false,
        ));
        let lambda = format!("<GetBestPrice>b__{}_0", 5 + v.deploy % 3);
        frames.push(net(
            v,
            "Shop.Api.Services.PricingService+<>c",
            &lambda,
            Some("Services/PricingService.cs"),
            58,
            true,
        ));
        frames.push(net(
            v,
            "System.Linq.ThrowHelper",
            "ThrowNoElementsException()",
            None,
            0,
            false,
        ));
        let argument = format!("/api/prices/{}", v.id());
        let mut event = web_event(v, "GET", argument);
        event.exceptions = vec![exception(
            "System.InvalidOperationException",
            Some("Sequence contains no elements".into()),
            frames,
        )];
        event
    });

    // EF Core wraps the Npgsql error (root cause first).
    c.bug("net-register-duplicate-email", 10, |v| {
        let mut frames = aspnet(v);
        frames.push(async_frame(v, "Shop.Api.Controllers.AccountController", "Register", "Controllers/AccountController.cs", 33));
        frames.push(async_plumbing(v));
        frames.push(async_frame(v, "Shop.Api.Services.AccountService", "RegisterAsync", "Services/AccountService.cs", 61));
        frames.push(net(v, "Microsoft.EntityFrameworkCore.DbContext+<SaveChangesAsync>d__63", "MoveNext", None, 0, false));
        let mut event = web_event(v, "POST", "/api/account/register".into());
        event.exceptions = vec![
            exception(
                "Npgsql.PostgresException",
                Some("23505: duplicate key value violates unique constraint \"IX_Users_Email\"".into()),
                vec![],
            ),
            exception(
                "Microsoft.EntityFrameworkCore.DbUpdateException",
                Some("An error occurred while saving the entity changes. See the inner exception for details.".into()),
                frames,
            ),
        ];
        event
    });

    // The same client timeout reached from two controllers.
    c.bug("net-shipping-timeout", 11, |v| {
        let mut frames = aspnet(v);
        if v.chance(0.5) {
            frames.push(async_frame(v, "Shop.Api.Controllers.CheckoutController", "Quote", "Controllers/CheckoutController.cs", 39));
        } else {
            frames.push(async_frame(v, "Shop.Api.Controllers.CartController", "Estimate", "Controllers/CartController.cs", 71));
        }
        frames.push(async_plumbing(v));
        frames.push(async_frame(v, "Shop.Api.Clients.ShippingClient", "GetRatesAsync", "Clients/ShippingClient.cs", 48));
        frames.push(net(v, "System.Net.Http.HttpClient+<<SendAsync>g__Core|83_0>d", "MoveNext", None, 0, false));
        let mut event = web_event(v, "POST", "/api/checkout/quote".into());
        event.exceptions = vec![
            exception("System.TimeoutException", Some("The operation was canceled.".into()), vec![]),
            exception(
                "System.Threading.Tasks.TaskCanceledException",
                Some(format!(
                    "The request was canceled due to the configured HttpClient.Timeout of {} seconds elapsing.",
                    v.pick(&[30, 100])
                )),
                frames,
            ),
        ];
        event
    });

    // .NET 8 quotes the bad input, .NET 6 does not: a runtime upgrade between deploys. The
    // parsing runs in a local function.
    c.bug("net-csv-import-format", 9, |v| {
        let mut frames = aspnet(v);
        frames.push(async_frame(
            v,
            "Shop.Api.Controllers.ImportController",
            "Upload",
            "Controllers/ImportController.cs",
            25,
        ));
        frames.push(net(
            v,
            "Shop.Api.Import.CsvImporter",
            "ParseRow",
            Some("Import/CsvImporter.cs"),
            40,
            true,
        ));
        let local = format!("<ParseRow>g__ParseDecimal|{}_0", 4 + v.deploy % 2);
        frames.push(net(
            v,
            "Shop.Api.Import.CsvImporter",
            &local,
            Some("Import/CsvImporter.cs"),
            52,
            true,
        ));
        frames.push(net(
            v,
            "System.Number",
            "ThrowFormatException[TChar](ReadOnlySpan`1 value)",
            None,
            0,
            false,
        ));
        let bad = v.pick(&["abc", "12,5", "N/A", ""]).to_string();
        let value = if v.deploy >= 3 {
            format!("The input string '{bad}' was not in a correct format.")
        } else {
            "Input string was not in a correct format.".to_owned()
        };
        let mut event = web_event(v, "POST", "/api/import".into());
        event.exceptions = vec![exception("System.FormatException", Some(value), frames)];
        event
    });
}
