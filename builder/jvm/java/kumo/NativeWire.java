package kumo;

import java.io.IOException;
import java.util.List;

/**
 * The wire of a request Kumo's JVM runtime is serving: its native methods are
 * the runtime's (the Kumo patch to the JVM's intrinsics), which read the request
 * body from {@code wasi:http} and send the response head and body to the client
 * as they come. A failure (the client went away) is an {@code IOException}, as a
 * broken connection is on the JDK's server.
 */
final class NativeWire extends Wire {

    private static native int read0(byte[] b, int off, int len) throws IOException;

    private static native void head0(byte[] head, long length) throws IOException;

    private static native void write0(byte[] b, int off, int len) throws IOException;

    @Override
    int read(byte[] b, int off, int len) throws IOException {
        return read0(b, off, len);
    }

    @Override
    void head(int status, List<String[]> headers, long length) throws IOException {
        head0(encodeHead(status, headers, false), length);
    }

    @Override
    void write(byte[] b, int off, int len) throws IOException {
        write0(b, off, len);
    }
}
