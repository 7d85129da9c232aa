package kumo;

import com.sun.net.httpserver.Authenticator;
import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A context of {@link KumoHttpServer}: a path prefix with its handler, the
 * app's filters, its attributes and its authenticator, as the JDK's own
 * context keeps them. {@link Bridge#handle} runs the filters, then the
 * authenticator, then the handler, in the JDK's order.
 */
public final class KumoHttpContext extends HttpContext {

    private final KumoHttpServer server;
    private final String path;
    private final Map<String, Object> attributes = new ConcurrentHashMap<>();
    private final List<Filter> filters = new CopyOnWriteArrayList<>();
    private volatile HttpHandler handler;
    private volatile Authenticator authenticator;

    KumoHttpContext(KumoHttpServer server, String path, HttpHandler handler) {
        this.server = server;
        this.path = path;
        this.handler = handler;
    }

    /** The handler, or null while none is set. */
    @Override
    public HttpHandler getHandler() {
        return handler;
    }

    /**
     * Sets the handler of a context created without one.
     *
     * @throws IllegalArgumentException if it already has one (as the JDK does)
     */
    @Override
    public synchronized void setHandler(HttpHandler handler) {
        if (handler == null) {
            throw new NullPointerException("Null handler parameter");
        }
        if (this.handler != null) {
            throw new IllegalArgumentException("handler already set");
        }
        this.handler = handler;
    }

    /** The path prefix this context serves. */
    @Override
    public String getPath() {
        return path;
    }

    /** The server that created this context. */
    @Override
    public HttpServer getServer() {
        return server;
    }

    /**
     * The context's attributes, a mutable map shared by every exchange of the
     * context (the JDK's exchanges also read and write their attributes here).
     */
    @Override
    public Map<String, Object> getAttributes() {
        return attributes;
    }

    /** The app's filters, a mutable list run in order before the handler. */
    @Override
    public List<Filter> getFilters() {
        return filters;
    }

    /**
     * Sets the authenticator that checks each request after the app's filters and
     * before the handler (null for none); returns the previous one.
     */
    @Override
    public Authenticator setAuthenticator(Authenticator auth) {
        Authenticator old = authenticator;
        authenticator = auth;
        return old;
    }

    /** The authenticator, or null. */
    @Override
    public Authenticator getAuthenticator() {
        return authenticator;
    }
}
