package kumo;

import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsServer;
import com.sun.net.httpserver.spi.HttpServerProvider;
import java.net.InetSocketAddress;

/**
 * The {@link HttpServerProvider} Kumo's JVM runtime installs, through the system
 * property {@code com.sun.net.httpserver.HttpServerProvider=kumo.KumoHttpServerProvider}.
 *
 * <p>With it, an app's {@code HttpServer.create(...)} returns Kumo's
 * {@link KumoHttpServer} instead of the JDK's socket server: the app registers
 * its contexts as usual, and Kumo's runtime, which receives the requests over
 * {@code wasi:http}, hands each one to {@link Bridge#handle}. There is one server
 * per VM (an instance serves one app on one port), so every call returns the
 * same {@link KumoHttpServer}.
 */
public final class KumoHttpServerProvider extends HttpServerProvider {

    /** Public and without arguments: {@code HttpServerProvider.provider()} instantiates it by name. */
    public KumoHttpServerProvider() {
    }

    /**
     * Returns the VM's one {@link KumoHttpServer}, bound to {@code addr} when it is
     * given (as {@code HttpServer.create(addr, backlog)} does). Nothing listens on
     * the address: Kumo's router owns the port and forwards requests to the VM.
     *
     * @param addr the address the app asked for, or null to bind later
     * @param backlog ignored: there is no socket to queue connections on
     */
    @Override
    public HttpServer createHttpServer(InetSocketAddress addr, int backlog) {
        KumoHttpServer server = KumoHttpServer.instance();
        if (addr != null) {
            server.setAddress(addr);
        }
        return server;
    }

    /**
     * Not supported: TLS ends at Kumo's router, which forwards plain HTTP to the
     * app, so an app serves HTTPS by creating an ordinary {@code HttpServer}.
     */
    @Override
    public HttpsServer createHttpsServer(InetSocketAddress addr, int backlog) {
        throw new UnsupportedOperationException(
                "HTTPS is served by Kumo's router: create an HttpServer; the router terminates TLS");
    }
}
