package kumo;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What Kumo's JVM runtime calls, all static: {@link #started} once the app's
 * {@code main} has returned, {@link #serve} for every request, on the same VM,
 * and {@link #describe} to print an exception that escaped {@code main}.
 *
 * <p>On Kumo, {@link #serve} streams: request and response bodies cross through
 * {@link NativeWire} while the handler runs; {@link #handle} does the same in
 * memory, with requests and responses as byte arrays in a small line format.
 * Handlers run inline on the calling thread: Java threads do not outlive a call
 * into the VM in Kumo's embedding, so nothing may be left for another thread to
 * finish after {@code serve} returns.
 */
public final class Bridge {

    /** The response head line that tells the runtime to abort the response on the wire. */
    static final String CUT_HEADER = "Kumo-Response-Cut";

    private Bridge() {
    }

    /**
     * Whether the app created an {@code HttpServer} and started it (and has not
     * stopped it): the runtime checks this after {@code main} returns.
     */
    public static boolean started() {
        KumoHttpServer server = KumoHttpServer.existing();
        return server != null && server.isServing();
    }

    /**
     * Serves the request the runtime is handling, streaming: the request body is
     * read from {@link NativeWire} as the handler reads it, and the head and body
     * go to the client as the handler sends them.
     *
     * @param head the request head, as {@link #handle} reads it
     * @return 0 when the response is complete; 1 when it must reach the client cut
     *     short (shorter than its declared length, or broken off by an exception)
     */
    public static int serve(byte[] head) {
        return exchange(head, new NativeWire()) ? 1 : 0;
    }

    /**
     * Serves one request with the app's handlers, in memory, and returns the response.
     *
     * <p>The request head is text, lines separated by {@code \n}: the method,
     * the request target ({@code /path?query} as sent), the client's IP address
     * (may be empty), all UTF-8, then one {@code Name: value} line per header,
     * whose bytes are read as ISO-8859-1 as the JDK's server reads them (the
     * same for ASCII); a trailing {@code \n} is allowed.
     *
     * <p>The request goes to the context whose path is the longest prefix of the
     * request path (no context: 404 with {@code No context found for request}),
     * through the context's filters, its authenticator and its handler, inline.
     * A handler that throws gets its stack trace printed to {@code System.err}; the
     * answer is then 500 if it had sent no headers, else the response as far as
     * it got, marked cut unless it was already complete (body stream closed with
     * every promised byte, or a response without a body), as a JDK client would
     * have received it. A handler that returns without sending headers also
     * gets 500.
     *
     * <p>Kumo answers itself, in plain text, when there is no running server
     * (503), the target is not a URI {@code java.net.URI} accepts (400, as the
     * JDK's server), no context matches (404) or the context has no handler (500).
     *
     * <p>The response is the status code, then one {@code Name: value} line per
     * header value as the handler set them (ISO-8859-1), then an empty line, then
     * the body bytes. A response that must not reach the client as complete has
     * the line {@code Kumo-Response-Cut: 1} in its head. No {@code Content-Length}
     * is added: the runtime frames the body.
     *
     * <p>It does not throw: a failure of the bridge itself is printed and
     * answered with 500.
     *
     * @param head the request head, as above
     * @param body the request body (null for none)
     * @return the encoded response
     */
    public static byte[] handle(byte[] head, byte[] body) {
        Wire.Buffered wire = new Wire.Buffered(body);
        boolean cut = exchange(head, wire);
        return wire.encode(cut);
    }

    /** Serves one request over {@code wire}; true when the response is cut. */
    private static boolean exchange(byte[] head, Wire wire) {
        String method = "?";
        String target = "?";
        KumoExchange exchange = null;
        try {
            List<String> lines = lines(head == null ? new byte[0] : head);
            if (lines.size() < 2) {
                System.err.println("Kumo: a request reached the JVM bridge without a method and target line");
                return plain(wire, 400, "Bad Request\n");
            }
            method = lines.get(0);
            target = lines.get(1);
            String client = lines.size() > 2 ? lines.get(2).trim() : "";

            KumoHttpServer server = KumoHttpServer.existing();
            if (server == null || !server.isServing()) {
                return plain(wire, 503, server != null && server.isStopped()
                        ? "The app's HttpServer was stopped\n"
                        : "The app has not started an HttpServer\n");
            }
            URI uri;
            try {
                uri = new URI(target);
            } catch (URISyntaxException e) {
                // The JDK's server refuses a target java.net.URI cannot parse the same way.
                return plain(wire, 400, "Bad Request\n");
            }
            String path = uri.getPath() == null ? "" : uri.getPath();
            KumoHttpContext context = server.findContext(path);
            if (context == null) {
                return plain(wire, 404, "No context found for request\n");
            }
            HttpHandler handler = context.getHandler();
            if (handler == null) {
                return plain(wire, 500, "No handler for context\n");
            }

            Headers headers = new Headers();
            for (int i = 3; i < lines.size(); i++) {
                addHeader(headers, lines.get(i));
            }
            exchange = new KumoExchange(method, uri, headers, wire, remoteAddress(client), context);
            return runHandler(exchange, wire, context, handler, method, target);
        } catch (Throwable t) {
            System.err.println("Kumo: the JVM bridge failed on " + method + " " + target + ":");
            t.printStackTrace();
            System.err.flush();
            if (exchange != null && exchange.headersSent()) {
                return true;
            }
            return plain(wire, 500, "Internal Server Error\n");
        }
    }

    /**
     * Runs the filters, authenticator and handler on {@code exchange}, then sends
     * what the handler left unsent; true when the response is cut.
     */
    private static boolean runHandler(KumoExchange exchange, Wire wire, KumoHttpContext context,
            HttpHandler handler, String method, String target) {
        try {
            new Filter.Chain(context.getFilters(), new Authenticate(exchange, context, handler))
                    .doFilter(exchange);
        } catch (Throwable t) {
            System.err.println("Exception in handler for " + method + " " + target + ":");
            t.printStackTrace();
            String why = unavailable(t);
            if (why != null) {
                System.err.println(why);
            }
            System.err.flush();
            if (!exchange.headersSent()) {
                return plain(wire, 500, "Internal Server Error\n");
            }
            // The JDK drops the connection: what was sent reaches the client, and
            // unless the body was complete the client sees the response cut short.
            if (!exchange.complete()) {
                exchange.markCut();
            }
        }
        if (!exchange.headersSent()) {
            System.err.println("Kumo: the handler for " + method + " " + target
                    + " returned without sending a response (it never called sendResponseHeaders);"
                    + " answering 500");
            System.err.flush();
            return plain(wire, 500, "Internal Server Error\n");
        }
        exchange.sendBuffered();
        return exchange.isCut();
    }

    /**
     * The stack trace of {@code t} as {@code printStackTrace} prints it, causes
     * included, in UTF-8: the runtime logs an exception that escaped {@code main}
     * with it.
     */
    public static byte[] describe(Throwable t) {
        String text;
        try {
            StringWriter writer = new StringWriter();
            PrintWriter printer = new PrintWriter(writer);
            if (t == null) {
                printer.println("null");
            } else {
                t.printStackTrace(printer);
            }
            printer.flush();
            text = writer.toString();
        } catch (Throwable e) {
            // Printing the trace failed: the exception and its causes, without frames.
            StringBuilder builder = new StringBuilder(String.valueOf(t)).append('\n');
            for (Throwable cause = t == null ? null : t.getCause(); cause != null && cause != t;
                    cause = cause.getCause()) {
                builder.append("Caused by: ").append(cause).append('\n');
            }
            text = builder.toString();
        }
        String why = unavailable(t);
        if (why != null) {
            text += why + "\n";
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * What Kumo adds after the trace of an exception that comes from a native
     * method its JVM does not have (an {@code UnsatisfiedLinkError}, itself or a
     * cause): the method, and why (sockets, processes and native libraries are
     * not there for JVM apps on Kumo); null for any other exception.
     */
    static String unavailable(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (!(c instanceof UnsatisfiedLinkError)) {
                continue;
            }
            String message = String.valueOf(c.getMessage()).trim();
            if (message.contains("java.library.path")) {
                return "Kumo: " + message + " -> native libraries cannot be loaded: only Java bytecode"
                        + " runs on Kumo's JVM";
            }
            String method = message.replace("'", "");
            String reason;
            if (method.startsWith("sun/nio/ch/") || method.startsWith("java/net/")
                    || method.startsWith("sun/net/")) {
                reason = "JVM apps on Kumo cannot open network sockets (a web app takes its requests"
                        + " from the HttpServer Kumo serves it)";
            } else if (method.startsWith("java/lang/ProcessImpl")
                    || method.startsWith("java/lang/ProcessHandleImpl")) {
                reason = "a dyno cannot start processes";
            } else {
                reason = "Kumo's JVM (the ristretto interpreter on WebAssembly) does not implement it";
            }
            return "Kumo: the native method " + method + " is not available: " + reason;
        }
        return null;
    }

    /**
     * The step after the app's filters, as in the JDK: the context's
     * authenticator, if any, decides whether the handler runs; a refusal answers
     * with its status and no body.
     */
    private static final class Authenticate implements HttpHandler {
        private final KumoExchange exchange;
        private final KumoHttpContext context;
        private final HttpHandler handler;

        Authenticate(KumoExchange exchange, KumoHttpContext context, HttpHandler handler) {
            this.exchange = exchange;
            this.context = context;
            this.handler = handler;
        }

        @Override
        public void handle(HttpExchange t) throws IOException {
            Authenticator authenticator = context.getAuthenticator();
            if (authenticator == null) {
                handler.handle(t);
                return;
            }
            Authenticator.Result result = authenticator.authenticate(t);
            if (result instanceof Authenticator.Success) {
                exchange.setPrincipal(((Authenticator.Success) result).getPrincipal());
                handler.handle(t);
            } else if (result instanceof Authenticator.Retry) {
                consume(t);
                t.sendResponseHeaders(((Authenticator.Retry) result).getResponseCode(), -1);
            } else if (result instanceof Authenticator.Failure) {
                consume(t);
                t.sendResponseHeaders(((Authenticator.Failure) result).getResponseCode(), -1);
            }
        }

        private static void consume(HttpExchange t) throws IOException {
            InputStream in = t.getRequestBody();
            byte[] buffer = new byte[4096];
            while (in.read(buffer) != -1) {
                // drained, as the JDK does before refusing
            }
            in.close();
        }
    }

    /**
     * The lines of the request head, each without a trailing CR, and without
     * trailing empty lines after the first three. The method, target and client
     * lines are read as UTF-8; header lines as ISO-8859-1, as the JDK's server
     * reads header bytes (so every byte of a value arrives, as a char up to 255).
     */
    private static List<String> lines(byte[] head) {
        List<String> lines = new ArrayList<>();
        int start = 0;
        while (start <= head.length) {
            int end = start;
            while (end < head.length && head[end] != '\n') {
                end++;
            }
            int stop = end > start && head[end - 1] == '\r' ? end - 1 : end;
            lines.add(new String(head, start, stop - start,
                    lines.size() < 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1));
            start = end + 1;
        }
        while (lines.size() > 3 && lines.get(lines.size() - 1).isEmpty()) {
            lines.remove(lines.size() - 1);
        }
        return lines;
    }

    /** Adds a {@code Name: value} line to {@code headers}; a line that is not one is skipped. */
    private static void addHeader(Headers headers, String line) {
        int colon = line.indexOf(':');
        if (colon <= 0) {
            return;
        }
        String name = line.substring(0, colon).trim();
        String value = line.substring(colon + 1).trim();
        if (name.isEmpty()) {
            return;
        }
        try {
            headers.add(name, value);
        } catch (IllegalArgumentException e) {
            // a name or value the JDK's Headers refuses: the JDK's server refuses such requests
        }
    }

    /**
     * The client's address with port 0. Only an IP literal is parsed (never a
     * name lookup); an empty or unreadable address gives 0.0.0.0.
     */
    static InetSocketAddress remoteAddress(String client) {
        InetAddress address = null;
        try {
            String ip = client;
            if (ip.startsWith("[") && ip.endsWith("]")) {
                ip = ip.substring(1, ip.length() - 1);
            }
            int scope = ip.indexOf('%');
            if (scope >= 0) {
                ip = ip.substring(0, scope);
            }
            byte[] v4 = ipv4(ip);
            if (v4 != null) {
                address = InetAddress.getByAddress(v4);
            } else if (ip.indexOf(':') >= 0 && isIpv6Text(ip)) {
                // A text with ':' is read as an IPv6 literal, never looked up.
                address = InetAddress.getByName(ip);
            }
        } catch (IOException | RuntimeException e) {
            address = null;
        }
        if (address == null) {
            try {
                address = InetAddress.getByAddress(new byte[4]);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return new InetSocketAddress(address, 0);
    }

    /** The four bytes of a dotted IPv4 address, or null if {@code text} is not one. */
    private static byte[] ipv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            String part = parts[i];
            if (part.isEmpty() || part.length() > 3) {
                return null;
            }
            int value = 0;
            for (int j = 0; j < part.length(); j++) {
                char c = part.charAt(j);
                if (c < '0' || c > '9') {
                    return null;
                }
                value = value * 10 + (c - '0');
            }
            if (value > 255) {
                return null;
            }
            bytes[i] = (byte) value;
        }
        return bytes;
    }

    /** Whether {@code text} holds only what an IPv6 literal may: hex digits, ':' and '.'. */
    private static boolean isIpv6Text(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
                    || c == ':' || c == '.';
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /**
     * A response Kumo makes itself: plain UTF-8 text. False (complete), or true if
     * the client went away while it was sent.
     */
    private static boolean plain(Wire wire, int status, String text) {
        List<String[]> headers = new ArrayList<>();
        headers.add(new String[] {"Content-Type", "text/plain; charset=utf-8"});
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        try {
            wire.head(status, headers, body.length);
            wire.write(body, 0, body.length);
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
