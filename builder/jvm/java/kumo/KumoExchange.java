package kumo;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One request and its response, as the app's handler sees it.
 *
 * <p>The request body is read from the exchange's {@link Wire} as the handler
 * reads it; the head goes out when {@link #sendResponseHeaders} is called and the
 * body in pieces of up to {@value #CHUNK} bytes (or at each {@code flush}), as the
 * JDK's server sends them. The rules are the JDK server's, so a handler behaves
 * as it does there:
 * <ul>
 * <li>{@link #sendResponseHeaders}{@code (code, n)} with {@code n > 0} promises
 *     exactly {@code n} bytes: writing more throws {@code IOException("too many
 *     bytes to write to stream")}, and a response left with fewer is cut (closing
 *     the body stream then throws {@code IOException("insufficient bytes written
 *     to stream")});</li>
 * <li>{@code n == 0} allows any length; {@code n == -1} means no body, as do
 *     HEAD requests and the status codes 1xx, 204 and 304, whatever {@code n};
 *     the exchange is then closed at once, as the JDK does;</li>
 * <li>the response headers are taken when {@code sendResponseHeaders} is called
 *     (later changes are not sent), and calling it twice throws
 *     {@code IOException("headers already sent")};</li>
 * <li>the response body stream may be fetched before the headers are sent (so
 *     filters can wrap it), but writing to it before throws
 *     {@code IOException("response headers not sent yet")}.</li>
 * </ul>
 */
public final class KumoExchange extends HttpExchange {

    /** The response body bytes kept before they are sent (the JDK's server buffers as much). */
    static final int CHUNK = 8192;

    private final String method;
    private final URI uri;
    private final Headers requestHeaders;
    private final Headers responseHeaders = new Headers();
    private final KumoHttpContext context;
    private final InetSocketAddress remoteAddress;

    /** The streams the exchange made; {@link #setStreams} may put others in front. */
    private final RequestBody requestBody;
    private final ResponseBody responseBody = new ResponseBody();
    private InputStream in;
    private OutputStream out;

    /** Where the request comes from and the response goes. */
    private final Wire wire;
    /** Response body bytes written and not yet sent. */
    private final byte[] pending = new byte[CHUNK];
    private int pendingCount;
    /** The response header lines, taken by {@link #sendResponseHeaders}. */
    private final List<String[]> sentHeaders = new ArrayList<>();
    private int responseCode = -1;
    private boolean headersSent;
    /** Whether the body has a fixed length, and how many bytes it still lacks. */
    private boolean fixedLength;
    private long remaining;
    private boolean bodyClosed;
    private boolean closed;
    private boolean cut;
    private HttpPrincipal principal;

    KumoExchange(String method, URI uri, Headers requestHeaders, Wire wire,
            InetSocketAddress remoteAddress, KumoHttpContext context) {
        this.method = method;
        this.uri = uri;
        this.requestHeaders = requestHeaders;
        this.remoteAddress = remoteAddress;
        this.context = context;
        this.wire = wire;
        this.requestBody = new RequestBody();
        this.in = requestBody;
        this.out = responseBody;
    }

    /** The request headers: names are case-insensitive, a name may have several values. */
    @Override
    public Headers getRequestHeaders() {
        return requestHeaders;
    }

    /** The response headers to fill before {@link #sendResponseHeaders}. */
    @Override
    public Headers getResponseHeaders() {
        return responseHeaders;
    }

    /** The request target as the client sent it: path and query (with its escapes). */
    @Override
    public URI getRequestURI() {
        return uri;
    }

    @Override
    public String getRequestMethod() {
        return method;
    }

    @Override
    public HttpContext getHttpContext() {
        return context;
    }

    /**
     * Ends the exchange: closes the request body and the response body stream
     * (the one a filter may have put in front, so it can finish its output). As
     * with the JDK, problems are not thrown here: a fixed-length body still short
     * of its length leaves the response cut, and if no headers were sent
     * there is no response at all ({@link Bridge#handle} then answers 500).
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        requestBody.close();
        if (!headersSent) {
            return;
        }
        try {
            out.close();
        } catch (IOException e) {
            // The JDK drops the connection here; what was written stays, and a
            // body short of its declared length is reported cut.
        }
    }

    /** The request body (or the stream a filter put in its place). */
    @Override
    public InputStream getRequestBody() {
        return in;
    }

    /**
     * The response body (or the stream a filter put in its place). It may be
     * fetched before {@link #sendResponseHeaders}, but only written after.
     */
    @Override
    public OutputStream getResponseBody() {
        return out;
    }

    /**
     * Sends the status and the response headers, and sets how the body is framed.
     *
     * @param rCode the status code
     * @param responseLength {@code > 0}: exactly that many bytes follow; {@code 0}:
     *     any number; {@code -1}: none
     * @throws IOException if the headers were already sent
     * @throws IllegalArgumentException if a header is malformed (as the JDK's
     *     server finds when it writes them) or the length is below -1
     */
    @Override
    public void sendResponseHeaders(int rCode, long responseLength) throws IOException {
        if (headersSent) {
            throw new IOException("headers already sent");
        }
        responseCode = rCode;
        boolean noBody = (rCode >= 100 && rCode < 200) || rCode == 204 || rCode == 304
                || "HEAD".equals(method) || responseLength == -1;
        if (!noBody && responseLength < 0) {
            throw new IllegalArgumentException("Content-Length: " + responseLength);
        }
        List<String[]> lines = new ArrayList<>();
        for (Map.Entry<String, List<String>> header : responseHeaders.entrySet()) {
            String name = header.getKey();
            checkName(name);
            List<String> values = header.getValue();
            if (values == null) {
                continue;
            }
            for (String value : values) {
                value = value == null ? "" : value;
                checkValue(value);
                lines.add(new String[] {name, unfold(value)});
            }
        }
        sentHeaders.addAll(lines);
        headersSent = true;
        wire.head(rCode, lines, noBody ? -1 : responseLength);
        if (noBody) {
            fixedLength = true;
            remaining = 0;
            close();
        } else if (responseLength > 0) {
            fixedLength = true;
            remaining = responseLength;
        }
    }

    /** A header name must be non-empty and hold no ':', CR, LF or character above 255. */
    private static void checkName(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("Empty header name");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == ':' || c == '\r' || c == '\n' || c > 255) {
                throw new IllegalArgumentException("Illegal character found in header name: " + name);
            }
        }
    }

    /**
     * The JDK's check of a header value: a CR only as part of a line fold (CR LF
     * then a space or tab), no other LF, no character above 255.
     */
    private static void checkValue(String value) {
        int len = value.length();
        for (int i = 0; i < len; i++) {
            char c = value.charAt(i);
            if (c == '\r') {
                if (i >= len - 2) {
                    throw new IllegalArgumentException("Illegal CR found in header");
                }
                if (value.charAt(i + 1) != '\n') {
                    throw new IllegalArgumentException("Illegal char found after CR in header");
                }
                char c2 = value.charAt(i + 2);
                if (c2 != ' ' && c2 != '\t') {
                    throw new IllegalArgumentException("No whitespace found after CRLF in header");
                }
                i += 2;
            } else if (c == '\n') {
                throw new IllegalArgumentException("Illegal LF found in header");
            } else if (c > 255) {
                throw new IllegalArgumentException("Illegal character found in header");
            }
        }
    }

    /** A value with each line fold (CR LF) turned into a space, to fit on one line. */
    private static String unfold(String value) {
        return value.indexOf('\r') < 0 ? value : value.replace("\r\n", " ");
    }

    /** The client's address, with port 0 (Kumo's router knows only the client's IP). */
    @Override
    public InetSocketAddress getRemoteAddress() {
        return remoteAddress;
    }

    /** The status sent by {@link #sendResponseHeaders}, -1 before. */
    @Override
    public int getResponseCode() {
        return responseCode;
    }

    /** The server's address (see {@link KumoHttpServer#getAddress}). */
    @Override
    public InetSocketAddress getLocalAddress() {
        return context.getServer().getAddress();
    }

    /** Always "HTTP/1.1": Kumo's router speaks to the app in that protocol's terms. */
    @Override
    public String getProtocol() {
        return "HTTP/1.1";
    }

    /**
     * An attribute, from the context's attribute map: the JDK's exchanges share
     * that map, so filters, handlers and context configuration all see one another's.
     */
    @Override
    public Object getAttribute(String name) {
        if (name == null) {
            throw new NullPointerException("null name parameter");
        }
        return context.getAttributes().get(name);
    }

    /** Sets an attribute (in the context's map, as the JDK does); null removes it. */
    @Override
    public void setAttribute(String name, Object value) {
        if (name == null) {
            throw new NullPointerException("null name parameter");
        }
        if (value != null) {
            context.getAttributes().put(name, value);
        } else {
            context.getAttributes().remove(name);
        }
    }

    /**
     * Puts a filter's streams in front of the request and response bodies (null
     * keeps one as it is). They should read from and write to the streams they
     * replace, which remain what Kumo reads and sends.
     */
    @Override
    public void setStreams(InputStream i, OutputStream o) {
        if (i != null) {
            in = i;
        }
        if (o != null) {
            out = o;
        }
    }

    /** The principal an {@code Authenticator} accepted, or null. */
    @Override
    public HttpPrincipal getPrincipal() {
        return principal;
    }

    void setPrincipal(HttpPrincipal principal) {
        this.principal = principal;
    }

    /** Whether {@link #sendResponseHeaders} was called. */
    boolean headersSent() {
        return headersSent;
    }

    /** The response header lines as sent: name and value pairs, in order. */
    List<String[]> sentHeaders() {
        return sentHeaders;
    }

    /**
     * Sends the response body bytes still kept (a handler need not flush or close
     * its stream); a client that went away leaves the response cut.
     */
    void sendBuffered() {
        try {
            sendPending();
        } catch (IOException e) {
            cut = true;
        }
    }

    private void sendPending() throws IOException {
        if (pendingCount > 0) {
            int count = pendingCount;
            pendingCount = 0;
            wire.write(pending, 0, count);
        }
    }

    /** Marks the response cut: the client must not take it for complete. */
    void markCut() {
        cut = true;
    }

    /**
     * Whether the response is finished: headers sent and the response body
     * stream closed with every byte it promised.
     */
    boolean complete() {
        return headersSent && bodyClosed && !(fixedLength && remaining > 0);
    }

    /** Whether the response is cut: marked so, or short of its declared length. */
    boolean isCut() {
        return cut || (headersSent && fixedLength && remaining > 0);
    }

    /**
     * The request body: read from the wire as the handler reads it (whatever has
     * arrived, up to {@value #CHUNK} bytes at a time, as the JDK's server reads its
     * socket through a buffer), unreadable once closed.
     */
    private final class RequestBody extends InputStream {
        private final byte[] buffer = new byte[CHUNK];
        private int start;
        private int end;
        private boolean closed;
        private boolean ended;

        private void check() throws IOException {
            if (closed) {
                throw new IOException("Stream is closed");
            }
        }

        /** Waits for more of the body; false at its end. */
        private boolean fill() throws IOException {
            if (ended) {
                return false;
            }
            int count = wire.read(buffer, 0, buffer.length);
            if (count < 0) {
                ended = true;
                return false;
            }
            start = 0;
            end = count;
            return true;
        }

        @Override
        public int read() throws IOException {
            check();
            while (start == end) {
                if (!fill()) {
                    return -1;
                }
            }
            return buffer[start++] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            check();
            if (len == 0) {
                return 0;
            }
            if (start == end) {
                if (len >= buffer.length) {
                    if (ended) {
                        return -1;
                    }
                    int count = wire.read(b, off, len);
                    ended = count < 0;
                    return count;
                }
                if (!fill()) {
                    return -1;
                }
            }
            int count = Math.min(len, end - start);
            System.arraycopy(buffer, start, b, off, count);
            start += count;
            return count;
        }

        @Override
        public int available() throws IOException {
            check();
            return (end - start) + (ended ? 0 : wire.available());
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /**
     * The response body: once the headers are sent, writes go to the wire in
     * pieces of up to {@value #CHUNK} bytes, within the length the headers declared.
     */
    private final class ResponseBody extends OutputStream {

        private void check(long count) throws IOException {
            if (!headersSent) {
                throw new IOException("response headers not sent yet");
            }
            if (bodyClosed) {
                throw new IOException("stream closed");
            }
            if (fixedLength && count > remaining) {
                throw new IOException("too many bytes to write to stream");
            }
        }

        @Override
        public void write(int b) throws IOException {
            check(1);
            if (fixedLength) {
                remaining--;
            }
            pending[pendingCount++] = (byte) b;
            if (pendingCount == CHUNK) {
                sendPending();
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return;
            }
            check(len);
            if (fixedLength) {
                remaining -= len;
            }
            if (pendingCount + len <= CHUNK) {
                System.arraycopy(b, off, pending, pendingCount, len);
                pendingCount += len;
                if (pendingCount == CHUNK) {
                    sendPending();
                }
            } else {
                sendPending();
                wire.write(b, off, len);
            }
        }

        @Override
        public void flush() throws IOException {
            if (!headersSent) {
                throw new IOException("response headers not sent yet");
            }
            sendPending();
        }

        /**
         * Finishes the body. Short of a declared length, the response is cut and,
         * as with the JDK, the exchange is closed and this throws.
         */
        @Override
        public void close() throws IOException {
            if (!headersSent) {
                throw new IOException("response headers not sent yet");
            }
            if (bodyClosed) {
                return;
            }
            bodyClosed = true;
            try {
                sendPending();
            } catch (IOException e) {
                cut = true;
                throw e;
            }
            if (fixedLength && remaining > 0) {
                cut = true;
                KumoExchange.this.close();
                throw new IOException("insufficient bytes written to stream");
            }
            requestBody.close();
        }
    }
}
