//! Java corpus: a Spring Boot shop (CGLIB proxies, lambdas, Hibernate, Tomcat).

use super::{base, exception, frame, os, request, runtime, Corpus, V};
use stackhouse_protocol::{ErrorEvent, Frame};

fn java(v: &mut V, class: &str, method: &str, line: u32, in_app: bool) -> Frame {
    let simple = class.rsplit('.').next().unwrap_or(class);
    let file = format!("{}.java", simple.split('$').next().unwrap_or(simple));
    let line = if in_app { v.line(line) } else { line };
    frame(Some(class), method, &file, None, line, in_app)
}

/// Tomcat, Spring MVC and a varying set of servlet filters.
fn spring_mvc(v: &mut V) -> Vec<Frame> {
    let mut frames = vec![
        java(v, "java.lang.Thread", "run", 840, false),
        java(
            v,
            "org.apache.tomcat.util.threads.TaskThread$WrappingRunnable",
            "run",
            61,
            false,
        ),
        java(
            v,
            "org.apache.catalina.core.StandardWrapperValve",
            "invoke",
            174,
            false,
        ),
    ];
    for filter in [
        "org.springframework.web.filter.RequestContextFilter",
        "org.springframework.web.filter.FormContentFilter",
        "org.springframework.web.filter.CharacterEncodingFilter",
        "org.springframework.security.web.FilterChainProxy",
        "io.micrometer.observation.web.servlet.ObservationFilter",
    ] {
        if v.chance(0.6) {
            frames.push(java(v, filter, "doFilterInternal", 100, false));
            frames.push(java(
                v,
                "org.apache.catalina.core.ApplicationFilterChain",
                "doFilter",
                164,
                false,
            ));
        }
    }
    frames.push(java(
        v,
        "org.springframework.web.servlet.DispatcherServlet",
        "doDispatch",
        1089,
        false,
    ));
    frames.push(java(
        v,
        "org.springframework.web.method.support.InvocableHandlerMethod",
        "doInvoke",
        255,
        false,
    ));
    let accessor = format!(
        "jdk.internal.reflect.GeneratedMethodAccessor{}",
        v.int(40, 400)
    );
    frames.push(java(v, &accessor, "invoke", 0, false));
    frames
}

/// A Spring bean called through its CGLIB proxy, whose class name changes every start.
fn proxied(v: &mut V, class: &str, method: &str) -> Vec<Frame> {
    let proxy = format!("{class}$$SpringCGLIB$${}", v.int(0, 3));
    let enhancer = format!("{class}$$EnhancerBySpringCGLIB$${}", v.hex(8));
    let proxy_class = if v.chance(0.5) { proxy } else { enhancer };
    vec![
        java(v, &proxy_class, method, 0, false),
        java(
            v,
            "org.springframework.aop.framework.CglibAopProxy$DynamicAdvisedInterceptor",
            "intercept",
            713,
            false,
        ),
    ]
}

fn web_event(v: &mut V, method: &str, path: String) -> ErrorEvent {
    let mut event = base("java", "shop-service", v);
    request(
        &mut event,
        method,
        format!("https://shop.example.com{path}"),
        "okhttp/4.12.0",
    );
    runtime(&mut event, "OpenJDK Runtime Environment", "21.0.2");
    os(&mut event, "Linux");
    event
}

pub fn bugs(c: &mut Corpus) {
    c.bug("java-order-confirm-npe", 15, |v| {
        let mut frames = spring_mvc(v);
        frames.push(java(v, "com.acme.shop.web.OrderController", "confirm", 58, true));
        frames.extend(proxied(v, "com.acme.shop.service.OrderService", "confirm"));
        frames.push(java(v, "com.acme.shop.service.OrderService", "confirm", 120, true));
        frames.push(java(v, "java.util.ArrayList", "forEach", 1596, false));
        let lambda = format!("lambda$confirm${}", v.deploy % 3);
        frames.push(java(v, "com.acme.shop.service.OrderService", &lambda, 124, true));
        frames.push(java(v, "com.acme.shop.notify.Mailer", "orderConfirmed", 33, true));
        let argument = format!("/orders/{}/confirm", v.id());
        let mut event = web_event(v, "POST", argument);
        let value = "Cannot invoke \"com.acme.shop.model.Customer.getEmail()\" because \"customer\" is null";
        event.exceptions = vec![exception("java.lang.NullPointerException", Some(value.into()), frames)];
        event
    });

    c.bug("java-invoice-render-npe", 9, |v| {
        let mut frames = spring_mvc(v);
        frames.push(java(v, "com.acme.shop.web.InvoiceController", "download", 40, true));
        frames.extend(proxied(v, "com.acme.shop.billing.InvoiceService", "render"));
        frames.push(java(v, "com.acme.shop.billing.InvoiceService", "render", 77, true));
        frames.push(java(v, "com.acme.shop.billing.TaxCalculator", "lineTax", 19, true));
        let argument = format!("/invoices/INV-2024-{:05}.pdf", v.id() % 100_000);
        let mut event = web_event(v, "GET", argument);
        let value = "Cannot invoke \"java.math.BigDecimal.multiply(java.math.BigDecimal)\" because \"rate\" is null";
        event.exceptions = vec![exception("java.lang.NullPointerException", Some(value.into()), frames)];
        event
    });

    // No helpful NPE message on this code path (it comes from an older library).
    c.bug("java-cart-add-npe", 7, |v| {
        let mut frames = spring_mvc(v);
        frames.push(java(
            v,
            "com.acme.shop.web.CartController",
            "addItem",
            66,
            true,
        ));
        frames.push(java(v, "com.acme.shop.cart.CartService", "add", 45, true));
        frames.push(java(
            v,
            "com.google.common.base.Preconditions",
            "checkNotNull",
            903,
            false,
        ));
        let argument = format!("/carts/{}/items", v.uuid());
        let mut event = web_event(v, "POST", argument);
        event.exceptions = vec![exception("java.lang.NullPointerException", None, frames)];
        event
    });

    // Root cause first: the driver, Hibernate, then Spring's translation.
    c.bug("java-sku-duplicate", 10, |v| {
        let sku = format!("SKU-{}", v.int(1000, 99999));
        let driver = vec![
            java(v, "org.postgresql.core.v3.QueryExecutorImpl", "receiveErrorResponse", 2713, false),
            java(v, "org.postgresql.jdbc.PgPreparedStatement", "executeUpdate", 152, false),
        ];
        let hibernate = vec![
            java(v, "org.hibernate.engine.jdbc.internal.ResultSetReturnImpl", "executeUpdate", 194, false),
            java(v, "org.hibernate.persister.entity.AbstractEntityPersister", "insert", 3025, false),
        ];
        let mut outer = spring_mvc(v);
        outer.push(java(v, "com.acme.shop.web.ProductController", "create", 35, true));
        outer.extend(proxied(v, "com.acme.shop.catalog.ProductService", "create"));
        outer.push(java(v, "com.acme.shop.catalog.ProductService", "create", 51, true));
        let argument = format!("com.acme.shop.catalog.ProductRepository_$$_jvst{}_0", v.hex(3));
        outer.push(java(v, &argument, "saveAndFlush", 0, false));
        let mut event = web_event(v, "POST", "/products".into());
        event.exceptions = vec![
            exception(
                "org.postgresql.util.PSQLException",
                Some(format!("ERROR: duplicate key value violates unique constraint \"uk_product_sku\"\n  Detail: Key (sku)=({sku}) already exists.")),
                driver,
            ),
            exception(
                "org.hibernate.exception.ConstraintViolationException",
                Some("could not execute statement".into()),
                hibernate,
            ),
            exception(
                "org.springframework.dao.DataIntegrityViolationException",
                Some("could not execute statement; SQL [n/a]; constraint [uk_product_sku]".into()),
                outer,
            ),
        ];
        event
    });

    // The same failing code, reached from a REST call or from a scheduled job.
    c.bug("java-ship-already-shipped", 11, |v| {
        let mut frames = if v.chance(0.6) {
            let mut frames = spring_mvc(v);
            frames.push(java(
                v,
                "com.acme.shop.web.ShipmentController",
                "ship",
                29,
                true,
            ));
            frames
        } else {
            vec![
                java(v, "java.lang.Thread", "run", 840, false),
                java(
                    v,
                    "org.springframework.scheduling.support.ScheduledMethodRunnable",
                    "run",
                    84,
                    false,
                ),
                java(v, "com.acme.shop.jobs.ShipmentJob", "run", 25, true),
                java(v, "com.acme.shop.jobs.ShipmentJob", "shipBatch", 41, true),
            ]
        };
        frames.extend(proxied(
            v,
            "com.acme.shop.fulfillment.ShipmentService",
            "ship",
        ));
        frames.push(java(
            v,
            "com.acme.shop.fulfillment.ShipmentService",
            "ship",
            88,
            true,
        ));
        frames.push(java(
            v,
            "com.acme.shop.fulfillment.ShipmentService",
            "assertShippable",
            140,
            true,
        ));
        let argument = format!("/shipments/{}", v.id());
        let mut event = web_event(v, "POST", argument);
        let value = format!("Order {} is already shipped", v.id());
        event.exceptions = vec![exception(
            "java.lang.IllegalStateException",
            Some(value),
            frames,
        )];
        event
    });

    c.bug("java-order-cancel-state", 8, |v| {
        let mut frames = spring_mvc(v);
        frames.push(java(
            v,
            "com.acme.shop.web.OrderController",
            "cancel",
            71,
            true,
        ));
        frames.extend(proxied(v, "com.acme.shop.service.OrderService", "cancel"));
        frames.push(java(
            v,
            "com.acme.shop.service.OrderService",
            "cancel",
            160,
            true,
        ));
        let argument = format!("/orders/{}/cancel", v.id());
        let mut event = web_event(v, "POST", argument);
        let value = format!(
            "Order {} cannot be cancelled in state {}",
            v.id(),
            v.pick(&["SHIPPED", "DELIVERED", "REFUNDED"])
        );
        event.exceptions = vec![exception(
            "java.lang.IllegalStateException",
            Some(value),
            frames,
        )];
        event
    });

    c.bug("java-payment-read-timeout", 12, |v| {
        let root = vec![
            java(v, "java.net.SocketInputStream", "socketRead0", 0, false),
            java(
                v,
                "sun.security.ssl.SSLSocketImpl$AppInputStream",
                "read",
                1099,
                false,
            ),
            java(
                v,
                "org.apache.hc.core5.http.impl.io.SessionInputBufferImpl",
                "fillBuffer",
                149,
                false,
            ),
        ];
        let mut outer = spring_mvc(v);
        outer.push(java(
            v,
            "com.acme.shop.web.CheckoutController",
            "pay",
            47,
            true,
        ));
        outer.extend(proxied(
            v,
            "com.acme.shop.payments.PaymentService",
            "charge",
        ));
        outer.push(java(
            v,
            "com.acme.shop.payments.PaymentService",
            "charge",
            64,
            true,
        ));
        outer.push(java(
            v,
            "com.acme.shop.payments.PaymentGatewayClient",
            "post",
            92,
            true,
        ));
        outer.push(java(
            v,
            "org.springframework.web.client.RestTemplate",
            "doExecute",
            915,
            false,
        ));
        let mut event = web_event(v, "POST", "/checkout/pay".into());
        let url = format!("https://payments.example.com/v1/charges/{}", v.hex(24));
        event.exceptions = vec![
            exception(
                "java.net.SocketTimeoutException",
                Some("Read timed out".into()),
                root,
            ),
            exception(
                "org.springframework.web.client.ResourceAccessException",
                Some(format!(
                    "I/O error on POST request for \"{url}\": Read timed out"
                )),
                outer,
            ),
        ];
        event
    });

    c.bug("java-cart-concurrent-modification", 9, |v| {
        let mut frames = vec![
            java(v, "java.lang.Thread", "run", 840, false),
            java(
                v,
                "java.util.concurrent.ThreadPoolExecutor$Worker",
                "run",
                642,
                false,
            ),
            java(v, "com.acme.shop.jobs.CartCleanupJob", "run", 21, true),
            java(
                v,
                "com.acme.shop.cart.CartService",
                "removeExpired",
                101,
                true,
            ),
            java(v, "java.util.ArrayList", "forEach", 1596, false),
        ];
        let lambda = format!("lambda$removeExpired${}", v.deploy % 2 + 1);
        frames.push(java(
            v,
            "com.acme.shop.cart.CartService",
            &lambda,
            104,
            true,
        ));
        frames.push(java(
            v,
            "java.util.ArrayList$Itr",
            "checkForComodification",
            1095,
            false,
        ));
        let mut event = base("java", "shop-service", v);
        runtime(&mut event, "OpenJDK Runtime Environment", "21.0.2");
        event.exceptions = vec![exception(
            "java.util.ConcurrentModificationException",
            None,
            frames,
        )];
        event
    });
}
