import com.sun.net.httpserver.BasicAuthenticator;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;

/**
 * Checks Kumo's JVM bridge ({@code kumo.*}) on an ordinary JVM: it sets up an
 * {@code HttpServer} the way an app does, with Kumo's provider installed, then
 * calls {@code kumo.Bridge.handle} with hand-made request heads and checks each
 * encoded response. Prints an {@code OK} line per check and exits 1 at the first
 * mismatch. Handlers that throw print their stack traces to stderr, as on Kumo.
 */
public class BridgeCheck {

    /** A decoded bridge response. */
    static final class Response {
        int status;
        List<String[]> headers = new ArrayList<>();
        byte[] body;

        String header(String name) {
            for (String[] h : headers) {
                if (h[0].equalsIgnoreCase(name)) {
                    return h[1];
                }
            }
            return null;
        }

        List<String> all(String name) {
            List<String> values = new ArrayList<>();
            for (String[] h : headers) {
                if (h[0].equalsIgnoreCase(name)) {
                    values.add(h[1]);
                }
            }
            return values;
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        boolean cut() {
            return header("Kumo-Response-Cut") != null;
        }
    }

    static Response decode(byte[] bytes) {
        int split = -1;
        for (int i = 0; i + 1 < bytes.length; i++) {
            if (bytes[i] == '\n' && bytes[i + 1] == '\n') {
                split = i;
                break;
            }
        }
        if (split < 0) {
            fail("response has no head: " + new String(bytes, StandardCharsets.UTF_8));
        }
        String[] lines = new String(bytes, 0, split, StandardCharsets.UTF_8).split("\n", -1);
        Response r = new Response();
        r.status = Integer.parseInt(lines[0]);
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(": ");
            if (colon <= 0) {
                fail("bad header line: " + lines[i]);
            }
            r.headers.add(new String[] {lines[i].substring(0, colon), lines[i].substring(colon + 2)});
        }
        r.body = java.util.Arrays.copyOfRange(bytes, split + 2, bytes.length);
        return r;
    }

    static Response call(String head, String body) {
        byte[] out = kumo.Bridge.handle(head.getBytes(StandardCharsets.UTF_8),
                body == null ? null : body.getBytes(StandardCharsets.UTF_8));
        return decode(out);
    }

    static void fail(String message) {
        System.out.println("FAIL " + message);
        System.out.flush();
        System.exit(1);
    }

    static void expect(String what, Object got, Object want) {
        if (want == null ? got != null : !want.equals(got)) {
            fail(what + ": got <" + got + ">, want <" + want + ">");
        }
    }

    static void ok(String what) {
        System.out.println("OK   " + what);
    }

    static void expectThrows(String what, Class<? extends Throwable> type, String message, Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            if (!type.isInstance(t)) {
                fail(what + ": threw " + t + ", want " + type.getName());
            }
            if (message != null && !message.equals(t.getMessage())) {
                fail(what + ": message <" + t.getMessage() + ">, want <" + message + ">");
            }
            return;
        }
        fail(what + ": did not throw");
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("com.sun.net.httpserver.HttpServerProvider", "kumo.KumoHttpServerProvider");

        expect("started() before any server", kumo.Bridge.started(), false);
        HttpServer server = HttpServer.create(new InetSocketAddress(8080), 0);
        expect("server class", server.getClass().getName(), "kumo.KumoHttpServer");
        expect("same server for a second create", HttpServer.create(), server);
        expect("address", server.getAddress().getPort(), 8080);
        try {
            server.bind(new InetSocketAddress(9090), 0);
            fail("bind twice did not throw");
        } catch (java.net.BindException e) {
            expect("bind twice message", e.getMessage(), "HttpServer already bound");
        }
        ok("HttpServer.create returns Kumo's server, bound to 8080");

        expectThrows("https", UnsupportedOperationException.class,
                "HTTPS is served by Kumo's router: create an HttpServer; the router terminates TLS",
                () -> {
                    try {
                        HttpsServer.create(new InetSocketAddress(8443), 0);
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                });
        ok("HttpsServer.create is refused");

        // Echo: method, path, raw path, query, a header, the remote address, the body.
        server.createContext("/", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String text = exchange.getRequestMethod() + "|" + exchange.getRequestURI().getPath()
                    + "|" + exchange.getRequestURI().getRawPath()
                    + "|" + exchange.getRequestURI().getRawQuery()
                    + "|" + exchange.getRequestHeaders().getFirst("x-test")
                    + "|" + exchange.getRequestHeaders().get("X-MULTI")
                    + "|" + exchange.getRemoteAddress().getAddress().getHostAddress()
                    + ":" + exchange.getRemoteAddress().getPort()
                    + "|" + exchange.getProtocol()
                    + "|" + exchange.getHttpContext().getPath()
                    + "|" + body;
            byte[] out = bytes(text);
            exchange.getResponseHeaders().add("Content-Type", "text/plain");
            exchange.getResponseHeaders().add("X-Many", "one");
            exchange.getResponseHeaders().add("X-Many", "two");
            exchange.getResponseHeaders().add("Kumo-Response-Cut", "spoofed");
            exchange.sendResponseHeaders(200, out.length);
            exchange.getResponseHeaders().add("X-Late", "too late");
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(out);
            }
        });
        server.createContext("/hello", exchange -> {
            byte[] out = bytes("hello from " + exchange.getHttpContext().getPath());
            exchange.sendResponseHeaders(200, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.createContext("/throw", exchange -> {
            exchange.getResponseHeaders().add("X-Lost", "set before the throw");
            throw new IllegalStateException("boom", new IOException("the cause"));
        });
        server.createContext("/throw-after", exchange -> {
            exchange.sendResponseHeaders(200, 0);
            exchange.getResponseBody().write(bytes("partial"));
            throw new RuntimeException("after headers");
        });
        server.createContext("/throw-complete", exchange -> {
            exchange.sendResponseHeaders(202, -1);
            throw new RuntimeException("after a complete response");
        });
        server.createContext("/nothing", exchange -> {
            exchange.getRequestBody().readAllBytes();
        });
        server.createContext("/short", exchange -> {
            exchange.sendResponseHeaders(200, 10);
            OutputStream os = exchange.getResponseBody();
            os.write(bytes("abc"));
            try {
                os.close();
                fail("close of a short body did not throw");
            } catch (IOException e) {
                expect("short close message", e.getMessage(), "insufficient bytes written to stream");
            }
        });
        server.createContext("/short-open", exchange -> {
            exchange.sendResponseHeaders(200, 10);
            exchange.getResponseBody().write(bytes("abcd"));
        });
        server.createContext("/none", exchange -> {
            exchange.getResponseHeaders().set("Location", "/elsewhere");
            exchange.sendResponseHeaders(302, -1);
            try {
                exchange.getResponseBody().write('x');
                fail("write to a -1 body did not throw");
            } catch (IOException e) {
                // expected
            }
        });
        server.createContext("/chunked", exchange -> {
            exchange.sendResponseHeaders(201, 0);
            OutputStream os = exchange.getResponseBody();
            for (int i = 0; i < 3; i++) {
                os.write(bytes("chunk" + i + ";"));
            }
            os.close();
        });
        server.createContext("/toomany", exchange -> {
            exchange.sendResponseHeaders(200, 3);
            OutputStream os = exchange.getResponseBody();
            String message = null;
            try {
                os.write(bytes("abcd"));
            } catch (IOException e) {
                message = e.getMessage();
            }
            os.write(bytes("xyz"));
            os.close();
            expect("too many message", message, "too many bytes to write to stream");
        });
        server.createContext("/early", exchange -> {
            String message = null;
            try {
                exchange.getResponseBody().write(bytes("early"));
            } catch (IOException e) {
                message = e.getMessage();
            }
            expect("write before headers message", message, "response headers not sent yet");
            expect("response code before sending", exchange.getResponseCode(), -1);
            exchange.sendResponseHeaders(200, 0);
            expect("response code after sending", exchange.getResponseCode(), 200);
            try {
                exchange.sendResponseHeaders(500, 0);
                fail("second sendResponseHeaders did not throw");
            } catch (IOException e) {
                expect("second send message", e.getMessage(), "headers already sent");
            }
            exchange.getResponseBody().write(bytes("late but fine"));
            exchange.close();
        });
        HttpContext filtered = server.createContext("/filtered", exchange -> {
            byte[] out = bytes("seen " + exchange.getAttribute("filter.seen"));
            exchange.sendResponseHeaders(200, 0);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        filtered.getFilters().add(new Filter() {
            @Override
            public void doFilter(HttpExchange exchange, Chain chain) throws IOException {
                exchange.setAttribute("filter.seen", "yes");
                exchange.getResponseHeaders().add("X-Filter", "ran");
                OutputStream inner = exchange.getResponseBody();
                exchange.setStreams(null, new OutputStream() {
                    @Override
                    public void write(int b) throws IOException {
                        inner.write(Character.toUpperCase(b));
                    }

                    @Override
                    public void close() throws IOException {
                        inner.close();
                    }
                });
                chain.doFilter(exchange);
            }

            @Override
            public String description() {
                return "upper-cases the body";
            }
        });
        HttpContext secret = server.createContext("/secret", exchange -> {
            byte[] out = bytes("welcome " + exchange.getPrincipal().getUsername());
            exchange.sendResponseHeaders(200, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        secret.setAuthenticator(new BasicAuthenticator("kumo") {
            @Override
            public boolean checkCredentials(String user, String password) {
                return user.equals("ann") && password.equals("pw");
            }
        });
        server.createContext("/nohandler");

        expectThrows("duplicate context", IllegalArgumentException.class, null,
                () -> server.createContext("/hello", exchange -> { }));
        expectThrows("context without a slash", IllegalArgumentException.class, null,
                () -> server.createContext("hello", exchange -> { }));
        ok("createContext refuses a duplicate path and a path without '/'");

        server.setExecutor(Executors.newFixedThreadPool(2));
        expect("started() before start()", kumo.Bridge.started(), false);
        server.start();
        expect("started() after start()", kumo.Bridge.started(), true);
        ok("start() marks the server started, with an executor set (and ignored)");

        Response r = call("POST\n/echo/a%20b?x=1&y=%2F\n203.0.113.7\nX-Test: hi there\nx-multi: 1\nX-Multi: 2\nContent-Type: text/plain\n",
                "the body");
        expect("echo status", r.status, 200);
        expect("echo body", r.text(),
                "POST|/echo/a b|/echo/a%20b|x=1&y=%2F|hi there|[1, 2]|203.0.113.7:0|HTTP/1.1|/|the body");
        expect("echo content type", r.header("Content-type"), "text/plain");
        expect("echo multi-valued header", r.all("X-many"), List.of("one", "two"));
        expect("echo spoofed cut marker dropped", r.cut(), false);
        expect("echo header added after sending", r.header("X-late"), null);
        expect("echo no content-length added", r.header("Content-Length"), null);
        ok("echo: method, path, query, headers, client address, body; response headers as set");

        r = call("GET\n/\n\n", null);
        expect("root status", r.status, 200);
        expect("root body", r.text(), "GET|/|/|null|null|null|0.0.0.0:0|HTTP/1.1|/|");
        ok("echo with no client address, no headers, no body, trailing newline");

        r = call("GET\n/\n2001:db8::1", null);
        expect("ipv6 client", r.text().split("\\|")[6], "2001:db8:0:0:0:0:0:1:0");
        ok("IPv6 client address");

        r = call("GET\n/hello/world?q\n10.0.0.1", null);
        expect("hello status", r.status, 200);
        expect("hello body", r.text(), "hello from /hello");
        r = call("GET\n/hellox\n10.0.0.1", null);
        expect("hellox body", r.text(), "hello from /hello");
        r = call("GET\n/hell\n10.0.0.1", null);
        expect("hell goes to /", r.text().split("\\|", -1)[8], "/");
        ok("longest string-prefix context wins (/hello/world, /hellox -> /hello; /hell -> /)");

        System.out.println("---- a stack trace is expected below (handler throws before headers)");
        r = call("GET\n/throw\n", null);
        expect("throw status", r.status, 500);
        expect("throw body", r.text(), "Internal Server Error\n");
        expect("throw drops handler headers", r.header("X-Lost"), null);
        expect("throw not cut", r.cut(), false);
        ok("handler throwing before headers -> 500 Internal Server Error");

        System.out.println("---- a stack trace is expected below (handler throws after headers)");
        r = call("GET\n/throw-after\n", null);
        expect("throw-after status", r.status, 200);
        expect("throw-after body", r.text(), "partial");
        expect("throw-after cut", r.cut(), true);
        expect("throw-after marker value", r.header("Kumo-Response-Cut"), "1");
        ok("handler throwing after headers -> response as far as it got, marked cut");

        System.out.println("---- a stack trace is expected below (handler throws after a complete response)");
        r = call("GET\n/throw-complete\n", null);
        expect("throw-complete status", r.status, 202);
        expect("throw-complete cut", r.cut(), false);
        ok("handler throwing after a complete (-1) response -> that response, not cut");

        System.out.println("---- a 'returned without sending a response' line is expected below");
        r = call("PUT\n/nothing\n", "ignored");
        expect("nothing status", r.status, 500);
        expect("nothing body", r.text(), "Internal Server Error\n");
        ok("handler sending nothing -> 500");

        r = call("GET\n/short\n", null);
        expect("short status", r.status, 200);
        expect("short body", r.text(), "abc");
        expect("short cut", r.cut(), true);
        ok("fixed length 10, 3 bytes written then closed -> cut (close throws as in the JDK)");

        r = call("GET\n/short-open\n", null);
        expect("short-open body", r.text(), "abcd");
        expect("short-open cut", r.cut(), true);
        ok("fixed length 10, 4 bytes written, never closed -> cut");

        r = call("GET\n/none\n", null);
        expect("none status", r.status, 302);
        expect("none location", r.header("Location"), "/elsewhere");
        expect("none body", r.body.length, 0);
        expect("none cut", r.cut(), false);
        ok("length -1 -> no body, writes refused");

        r = call("GET\n/chunked\n", null);
        expect("chunked status", r.status, 201);
        expect("chunked body", r.text(), "chunk0;chunk1;chunk2;");
        expect("chunked cut", r.cut(), false);
        ok("length 0 -> any length");

        r = call("GET\n/toomany\n", null);
        expect("toomany body", r.text(), "xyz");
        expect("toomany cut", r.cut(), false);
        ok("writing past a fixed length -> IOException, stream still usable");

        r = call("GET\n/early\n", null);
        expect("early status", r.status, 200);
        expect("early body", r.text(), "late but fine");
        ok("write before headers and a second sendResponseHeaders -> IOException as in the JDK");

        System.out.println("---- a stack trace is expected below (a HEAD handler writing a body: the JDK throws too)");
        r = call("HEAD\n/hello\n", null);
        expect("head status", r.status, 200);
        expect("head body", r.body.length, 0);
        expect("head cut", r.cut(), false);
        ok("HEAD -> no body, whatever length the handler declares");

        r = call("GET\n/filtered\n", null);
        expect("filtered body", r.text(), "SEEN YES");
        expect("filtered header", r.header("X-filter"), "ran");
        ok("filters run before the handler and may replace streams; attributes reach the handler");

        r = call("GET\n/secret\n", null);
        expect("secret unauthenticated status", r.status, 401);
        expect("secret challenge", r.header("WWW-Authenticate").startsWith("Basic realm=\"kumo\""), true);
        r = call("GET\n/secret\n\nAuthorization: Basic "
                + java.util.Base64.getEncoder().encodeToString(bytes("ann:pw")), null);
        expect("secret authenticated status", r.status, 200);
        expect("secret body", r.text(), "welcome ann");
        ok("an Authenticator guards its context (401 without credentials, principal with)");

        r = call("GET\n/nohandler\n", null);
        expect("nohandler status", r.status, 500);
        expect("nohandler body", r.text(), "No handler for context\n");
        ok("context without a handler -> 500");

        r = call("GET\n/bad target\n", null);
        expect("bad target status", r.status, 400);
        ok("unparseable request target -> 400");

        // 404: the same server with only /hello (and the others but /) registered.
        server.removeContext("/");
        r = call("GET\n/nope\n", null);
        expect("404 status", r.status, 404);
        expect("404 body", r.text(), "No context found for request\n");
        expect("404 content type", r.header("Content-Type"), "text/plain; charset=utf-8");
        r = call("GET\n/hello\n", null);
        expect("hello still served", r.text(), "hello from /hello");
        expectThrows("remove twice", IllegalArgumentException.class, null, () -> server.removeContext("/"));
        ok("no matching context -> 404 No context found for request");

        byte[] described = kumo.Bridge.describe(new IllegalStateException("outer", new IOException("inner")));
        String text = new String(described, StandardCharsets.UTF_8);
        if (!text.startsWith("java.lang.IllegalStateException: outer") || !text.contains("Caused by: java.io.IOException: inner")
                || !text.contains("\tat BridgeCheck.main")) {
            fail("describe: " + text);
        }
        ok("describe gives the stack trace with causes");

        server.stop(0);
        expect("started() after stop()", kumo.Bridge.started(), false);
        r = call("GET\n/hello\n", null);
        expect("stopped status", r.status, 503);
        ok("a stopped server answers 503");

        System.out.println("all checks passed");
        System.exit(0);
    }
}
