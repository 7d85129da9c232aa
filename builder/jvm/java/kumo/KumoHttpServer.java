package kumo;

import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * The {@link HttpServer} a JVM app gets on Kumo (see {@link KumoHttpServerProvider}).
 *
 * <p>It opens no socket and starts no thread. It records what the app sets up
 * (the address, the contexts with their handlers, filters and authenticators)
 * and {@link Bridge#handle} dispatches each request Kumo's runtime receives to
 * the context the JDK's server would have chosen.
 *
 * <p>Handlers run inline, on the thread that calls {@link Bridge#handle}, whatever
 * executor the app sets: in Kumo's embedding of the JVM, Java threads live only
 * as long as one call into the VM, so a request handed to an executor's thread
 * would never be served once {@code handle} returned. (Running inline is also
 * what the JDK's server does when no executor is set.)
 *
 * <p>There is one instance per VM, {@link #instance()}.
 */
public final class KumoHttpServer extends HttpServer {

    private static KumoHttpServer instance;

    /** The contexts in creation order; {@link #findContext} picks among them. */
    private final List<KumoHttpContext> contexts = new ArrayList<>();
    private InetSocketAddress address;
    private Executor executor;
    private boolean started;
    private boolean stopped;

    private KumoHttpServer() {
    }

    /** The VM's one server, created at the first call. */
    static synchronized KumoHttpServer instance() {
        if (instance == null) {
            instance = new KumoHttpServer();
        }
        return instance;
    }

    /** The VM's server if the app created one, else null (without creating it). */
    static synchronized KumoHttpServer existing() {
        return instance;
    }

    /** Records the address given to {@code HttpServer.create(addr, backlog)}. */
    synchronized void setAddress(InetSocketAddress addr) {
        address = addr;
    }

    /**
     * Records the address the app asked for; nothing listens on it (Kumo's router
     * owns the port). As with the JDK, binding twice is an error.
     *
     * @throws BindException if the server is already bound
     */
    @Override
    public synchronized void bind(InetSocketAddress addr, int backlog) throws IOException {
        if (address != null) {
            throw new BindException("HttpServer already bound");
        }
        if (addr == null) {
            throw new NullPointerException("null address");
        }
        address = addr;
    }

    /**
     * Marks the server started, so {@link Bridge#handle} serves its contexts. No
     * thread is started: requests arrive through {@link Bridge#handle}. As with
     * the JDK, a server starts once and cannot be restarted after {@link #stop}.
     * Unlike the JDK, an unbound server may start: Kumo chooses the port anyway.
     */
    @Override
    public synchronized void start() {
        if (started || stopped) {
            throw new IllegalStateException("server in wrong state");
        }
        started = true;
    }

    /**
     * Stores the executor, which {@link #getExecutor} returns, and otherwise
     * ignores it: handlers run inline on the calling thread, because Java threads
     * do not outlive a call into the VM in Kumo's embedding (see the class comment).
     */
    @Override
    public synchronized void setExecutor(Executor executor) {
        if (started) {
            throw new IllegalStateException("server already started");
        }
        this.executor = executor;
    }

    /** The executor the app set, or null; never used to run handlers. */
    @Override
    public synchronized Executor getExecutor() {
        return executor;
    }

    /**
     * Marks the server stopped: {@link Bridge#handle} then answers 503. There are
     * no exchanges in flight to wait for (a handler that calls this is the only
     * one), so it returns at once.
     *
     * @param delay as for the JDK, must not be negative; otherwise unused
     */
    @Override
    public synchronized void stop(int delay) {
        if (delay < 0) {
            throw new IllegalArgumentException("negative delay parameter");
        }
        stopped = true;
    }

    /**
     * Creates the context for {@code path}, served by {@code handler}.
     *
     * @throws IllegalArgumentException if the path does not start with '/' or
     *     already has a context (as the JDK does)
     */
    @Override
    public synchronized HttpContext createContext(String path, HttpHandler handler) {
        if (handler == null || path == null) {
            throw new NullPointerException("null handler, or path parameter");
        }
        return add(path, handler);
    }

    /**
     * Creates the context for {@code path} without a handler; the app sets one
     * with {@link HttpContext#setHandler} (until then, requests to it get 500, as
     * with the JDK).
     *
     * @throws IllegalArgumentException if the path does not start with '/' or
     *     already has a context
     */
    @Override
    public synchronized HttpContext createContext(String path) {
        if (path == null) {
            throw new NullPointerException("null path parameter");
        }
        return add(path, null);
    }

    private KumoHttpContext add(String path, HttpHandler handler) {
        if (path.isEmpty() || path.charAt(0) != '/') {
            throw new IllegalArgumentException("Illegal value for path or protocol");
        }
        if (exact(path) != null) {
            throw new IllegalArgumentException("cannot add context to list");
        }
        KumoHttpContext context = new KumoHttpContext(this, path, handler);
        contexts.add(context);
        return context;
    }

    /**
     * Removes the context created for exactly {@code path}.
     *
     * @throws IllegalArgumentException if there is none
     */
    @Override
    public synchronized void removeContext(String path) {
        if (path == null) {
            throw new NullPointerException("null path parameter");
        }
        KumoHttpContext context = exact(path);
        if (context == null) {
            throw new IllegalArgumentException("cannot remove element from list");
        }
        contexts.remove(context);
    }

    /**
     * Removes {@code context}.
     *
     * @throws IllegalArgumentException if it is not one of this server's contexts
     */
    @Override
    public synchronized void removeContext(HttpContext context) {
        if (!(context instanceof KumoHttpContext)) {
            throw new IllegalArgumentException("wrong HttpContext type");
        }
        if (!contexts.remove(context)) {
            throw new IllegalArgumentException("no such context in list");
        }
    }

    /**
     * The address the app bound, or, when it bound none, the wildcard address
     * with the port in the {@code PORT} environment variable (0 without one).
     */
    @Override
    public synchronized InetSocketAddress getAddress() {
        if (address != null) {
            return address;
        }
        return new InetSocketAddress(envPort());
    }

    private static int envPort() {
        String port = System.getenv("PORT");
        if (port != null) {
            try {
                int value = Integer.parseInt(port.trim());
                if (value >= 0 && value <= 65535) {
                    return value;
                }
            } catch (NumberFormatException e) {
                // not a port: fall through to 0
            }
        }
        return 0;
    }

    /** Whether {@link #start} was called and {@link #stop} was not. */
    synchronized boolean isServing() {
        return started && !stopped;
    }

    /** Whether {@link #stop} was called. */
    synchronized boolean isStopped() {
        return stopped;
    }

    /**
     * The context for a request path, by the JDK's rule: the one whose path is
     * the longest prefix of {@code path}, compared as strings (so {@code /hello}
     * serves {@code /hello/x} and also {@code /hellox}); null if none matches.
     */
    synchronized KumoHttpContext findContext(String path) {
        KumoHttpContext best = null;
        for (KumoHttpContext context : contexts) {
            String prefix = context.getPath();
            if (path.startsWith(prefix)
                    && (best == null || prefix.length() > best.getPath().length())) {
                best = context;
            }
        }
        return best;
    }

    private KumoHttpContext exact(String path) {
        for (KumoHttpContext context : contexts) {
            if (context.getPath().equals(path)) {
                return context;
            }
        }
        return null;
    }
}
