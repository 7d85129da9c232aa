package kumo;

import clojure.java.api.Clojure;
import clojure.lang.IFn;
import clojure.lang.ISeq;
import clojure.lang.Keyword;
import clojure.lang.PersistentHashMap;
import clojure.lang.RT;
import clojure.lang.Seqable;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A Ring adapter on the JDK's {@code HttpServer} (which Kumo's provider
 * serves from {@code wasi:http}): the request becomes a Ring request map, the
 * handler's response map becomes the response.
 *
 * <p>Started three ways: as a main class naming the handler
 * ({@code java -cp … kumo.Ring myapp.core/handler}, what Kumo's Clojure
 * buildpack runs for {@code lein ring server}), from Clojure with
 * {@code (kumo.ring/run-server handler)}, or from Java with {@link #serve}.
 */
public final class Ring implements HttpHandler {

    private static final Keyword STATUS = Keyword.intern("status");
    private static final Keyword HEADERS = Keyword.intern("headers");
    private static final Keyword BODY = Keyword.intern("body");

    private final IFn handler;

    private Ring(IFn handler) {
        this.handler = handler;
    }

    /** Serves {@code handler} on {@code $PORT} (8080 when unset) and returns. */
    public static HttpServer serve(IFn handler) throws IOException {
        String port = System.getenv("PORT");
        HttpServer server = HttpServer.create(
                new InetSocketAddress(port == null ? 8080 : Integer.parseInt(port)), 0);
        server.createContext("/", new Ring(handler));
        server.start();
        System.out.println("Ring handler serving on port " + server.getAddress().getPort());
        return server;
    }

    /** {@code java kumo.Ring NS/NAME}: requires {@code NS} and serves the var {@code NAME}. */
    public static void main(String[] args) throws IOException {
        if (args.length != 1 || args[0].indexOf('/') <= 0) {
            throw new IllegalArgumentException(
                    "kumo.Ring takes the Ring handler as namespace/name, like myapp.core/handler");
        }
        String ns = args[0].substring(0, args[0].indexOf('/'));
        String name = args[0].substring(args[0].indexOf('/') + 1);
        Clojure.var("clojure.core", "require").invoke(Clojure.read(ns));
        IFn handler = Clojure.var(ns, name);
        if (!((clojure.lang.Var) handler).isBound()) {
            throw new IllegalArgumentException(ns + " has no var named " + name);
        }
        serve(handler);
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        Object response = handler.invoke(request(exchange));
        if (!(response instanceof Map<?, ?> map)) {
            throw new IllegalStateException(
                    "the Ring handler returned " + (response == null ? "nil" : response.getClass().getName())
                            + ", not a response map {:status … :headers … :body …}");
        }
        Object status = map.get(STATUS);
        if (!(status instanceof Number number)) {
            throw new IllegalStateException("the Ring response has no numeric :status: " + status);
        }
        if (map.get(HEADERS) instanceof Map<?, ?> headers) {
            for (Map.Entry<?, ?> header : headers.entrySet()) {
                String headerName = name(header.getKey());
                Object value = header.getValue();
                if (value instanceof String text) {
                    exchange.getResponseHeaders().add(headerName, text);
                } else if (value != null) {
                    for (ISeq s = RT.seq(value); s != null; s = s.next()) {
                        exchange.getResponseHeaders().add(headerName, String.valueOf(s.first()));
                    }
                }
            }
        }
        Object body = map.get(BODY);
        int code = number.intValue();
        if (body == null || exchange.getRequestMethod().equals("HEAD")) {
            exchange.sendResponseHeaders(code, -1);
            exchange.close();
            return;
        }
        send(exchange, code, body);
    }

    private static String name(Object key) {
        return key instanceof Keyword keyword ? keyword.getName() : String.valueOf(key);
    }

    /**
     * Sends a Ring body as ring-core's {@code StreamableResponseBody} does: a
     * String or byte array with its length; a seq element by element, each
     * flushed to the client as it is made (nil adds nothing, as with {@code str}),
     * so a lazy seq streams; an InputStream copied as it is read, then closed;
     * a File with its length, read as it is sent.
     */
    private static void send(HttpExchange exchange, int code, Object body) throws IOException {
        if (body instanceof String text) {
            fixed(exchange, code, text.getBytes(StandardCharsets.UTF_8));
        } else if (body instanceof byte[] raw) {
            fixed(exchange, code, raw);
        } else if (body instanceof File file) {
            long length = file.length();
            try (InputStream in = Files.newInputStream(file.toPath())) {
                exchange.sendResponseHeaders(code, length == 0 ? -1 : length);
                try (OutputStream out = exchange.getResponseBody()) {
                    in.transferTo(out);
                }
            }
        } else if (body instanceof InputStream in) {
            try (in) {
                exchange.sendResponseHeaders(code, 0);
                try (OutputStream out = exchange.getResponseBody()) {
                    in.transferTo(out);
                }
            }
        } else if (body instanceof Seqable || body instanceof Iterable<?>) {
            exchange.sendResponseHeaders(code, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                for (ISeq s = RT.seq(body); s != null; s = s.next()) {
                    Object part = s.first();
                    if (part != null) {
                        out.write(String.valueOf(part).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                }
            }
        } else {
            throw new IllegalStateException("a Ring :body cannot be a " + body.getClass().getName());
        }
    }

    private static void fixed(HttpExchange exchange, int code, byte[] bytes) throws IOException {
        exchange.sendResponseHeaders(code, bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    /** The Ring request map (Ring's SPEC) of an exchange. */
    private static Object request(HttpExchange exchange) {
        List<Object> entries = new ArrayList<>();
        String host = exchange.getRequestHeaders().getFirst("Host");
        String serverName = host == null ? "localhost" : host.replaceFirst(":\\d+$", "");
        String proto = exchange.getRequestHeaders().getFirst("X-Forwarded-Proto");
        add(entries, "server-port", exchange.getLocalAddress().getPort());
        add(entries, "server-name", serverName);
        add(entries, "remote-addr", exchange.getRemoteAddress().getAddress().getHostAddress());
        add(entries, "uri", exchange.getRequestURI().getRawPath());
        add(entries, "query-string", exchange.getRequestURI().getRawQuery());
        add(entries, "scheme", Keyword.intern(proto == null ? "http" : proto.toLowerCase(Locale.ROOT)));
        add(entries, "request-method", Keyword.intern(exchange.getRequestMethod().toLowerCase(Locale.ROOT)));
        add(entries, "protocol", exchange.getProtocol());
        List<Object> headers = new ArrayList<>();
        for (Map.Entry<String, List<String>> header : exchange.getRequestHeaders().entrySet()) {
            headers.add(header.getKey().toLowerCase(Locale.ROOT));
            headers.add(String.join(",", header.getValue()));
        }
        add(entries, "headers", PersistentHashMap.create(headers.toArray()));
        add(entries, "body", exchange.getRequestBody());
        return PersistentHashMap.create(entries.toArray());
    }

    private static void add(List<Object> entries, String key, Object value) {
        entries.add(Keyword.intern(key));
        entries.add(value);
    }
}
