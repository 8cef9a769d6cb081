"""Three small services instrumented with the real OpenTelemetry SDK, for tests/traces.rs.

frontend -> orders -> inventory, each an HTTP server on 127.0.0.1 with its own TracerProvider
(its own service.name) exporting to Stackhouse over OTLP/HTTP protobuf. Trace context crosses
the HTTP calls in W3C `traceparent` headers. inventory fails for some items (chosen by a seeded
random generator, so every run fails the same ones): the exception escapes its server span, so
the SDK records an `exception` span event and sets the span status to ERROR; orders and
frontend mark their spans failed as the 500 travels back up.

Usage: python otel_services.py STACKHOUSE_URL PUBLIC_KEY REQUESTS
Prints one JSON line: {"traces": [{"trace_id": "...", "item": N, "failed": bool}, ...]}
"""

import json
import random
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

STACKHOUSE, KEY, REQUESTS = sys.argv[1], sys.argv[2], int(sys.argv[3])
FAILING = set(random.Random(1234).sample(range(REQUESTS), k=max(1, REQUESTS // 4)))

providers = {}


def tracer_for(service):
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": service, "service.version": "1.0.0", "deployment.environment": "test"}
        )
    )
    exporter = OTLPSpanExporter(
        endpoint=f"{STACKHOUSE}/v1/traces", headers={"x-stackhouse-key": KEY}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    providers[service] = provider
    return provider.get_tracer("stackhouse-test")


class OutOfStock(Exception):
    pass


def reserve(item):
    if item in FAILING:
        raise OutOfStock(f"item {item} is out of stock")
    return {"reserved": item}


def call(tracer, name, url):
    """An outgoing HTTP call in a CLIENT span, with the trace context in its headers."""
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as span:
        span.set_attribute("http.request.method", "GET")
        headers = {}
        propagate.inject(headers)
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                span.set_attribute("http.response.status_code", response.status)
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            span.set_attribute("http.response.status_code", error.code)
            span.set_status(Status(StatusCode.ERROR, f"{name} answered {error.code}"))
            return error.code, None


def service(name, handle):
    tracer = tracer_for(name)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parsed = urlparse(self.path)
            item = int(parse_qs(parsed.query)["item"][0])
            # urllib sends "Traceparent"; the W3C propagator looks up "traceparent".
            context = propagate.extract({k.lower(): v for k, v in self.headers.items()})
            status, body = 500, {"error": "failed"}
            try:
                with tracer.start_as_current_span(
                    f"GET {parsed.path}", context=context, kind=SpanKind.SERVER
                ) as span:
                    span.set_attribute("http.request.method", "GET")
                    span.set_attribute("http.route", parsed.path)
                    status, body = handle(tracer, span, item)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR, f"answered {status}"))
            except OutOfStock:
                status, body = 500, {"error": "out of stock"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def inventory_handler(tracer, span, item):
    return 200, reserve(item)


inventory, inventory_url = service("inventory", inventory_handler)


def orders_handler(tracer, span, item):
    with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT) as query:
        query.set_attribute("db.system", "sqlite")
    status, body = call(tracer, "GET inventory", f"{inventory_url}/reserve?item={item}")
    return (200, body) if status == 200 else (500, {"error": "inventory failed"})


orders, orders_url = service("orders", orders_handler)


def frontend_handler(tracer, span, item):
    status, body = call(tracer, "GET orders", f"{orders_url}/orders?item={item}")
    return (200, body) if status == 200 else (502, {"error": "orders failed"})


frontend, frontend_url = service("frontend", frontend_handler)

results = []
for item in range(REQUESTS):
    request = urllib.request.Request(f"{frontend_url}/checkout?item={item}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            failed = False
    except urllib.error.HTTPError:
        failed = True
    results.append({"item": item, "failed": failed})

for provider in providers.values():
    provider.force_flush()
    provider.shutdown()
for server in (frontend, orders, inventory):
    server.shutdown()
print(json.dumps({"traces": results, "failing_items": sorted(FAILING)}))
