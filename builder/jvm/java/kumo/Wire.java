package kumo;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Where an exchange's bytes come from and go to. On Kumo it is
 * {@link NativeWire}: the request body is read from {@code wasi:http} as the
 * handler reads it, and the head and body reach the client as the handler sends
 * them. {@link Buffered} keeps everything in memory, for
 * {@link Bridge#handle(byte[], byte[])} (which an ordinary JVM can run).
 */
abstract class Wire {

    /**
     * Reads request body bytes, waiting for at least one.
     *
     * @return the count read, or -1 at the body's end
     * @throws IOException if the body could not be read (the client went away)
     */
    abstract int read(byte[] b, int off, int len) throws IOException;

    /** Request body bytes that can be read without waiting. */
    int available() {
        return 0;
    }

    /**
     * Sends the status and the header lines.
     *
     * @param length as {@code sendResponseHeaders} takes it: {@code > 0} exactly that
     *     many bytes follow, {@code 0} any number, {@code -1} none
     */
    abstract void head(int status, List<String[]> headers, long length) throws IOException;

    /** Sends response body bytes (only after {@link #head}). */
    abstract void write(byte[] b, int off, int len) throws IOException;

    /**
     * The head as the runtime reads it: the status, then {@code Name: value} lines,
     * each ended by {@code \n}, in ISO-8859-1 (the bytes the JDK's server would send).
     * A header named like Kumo's cut marker is dropped, so only the bridge can set it.
     */
    static byte[] encodeHead(int status, List<String[]> headers, boolean cut) {
        StringBuilder head = new StringBuilder();
        head.append(status).append('\n');
        if (cut) {
            head.append(Bridge.CUT_HEADER).append(": 1\n");
        }
        for (String[] header : headers) {
            if (header[0].equalsIgnoreCase(Bridge.CUT_HEADER)) {
                continue;
            }
            head.append(header[0]).append(": ").append(header[1]).append('\n');
        }
        return head.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    /** A request body given whole and a response kept in memory. */
    static final class Buffered extends Wire {
        private final byte[] request;
        private int position;
        private int status = -1;
        private List<String[]> headers;
        private final ByteArrayOutputStream body = new ByteArrayOutputStream();

        Buffered(byte[] request) {
            this.request = request == null ? new byte[0] : request;
        }

        @Override
        int read(byte[] b, int off, int len) {
            if (position >= request.length) {
                return -1;
            }
            int count = Math.min(len, request.length - position);
            System.arraycopy(request, position, b, off, count);
            position += count;
            return count;
        }

        @Override
        int available() {
            return request.length - position;
        }

        @Override
        void head(int status, List<String[]> headers, long length) throws IOException {
            if (this.status != -1) {
                throw new IOException("headers already sent");
            }
            this.status = status;
            this.headers = headers;
        }

        @Override
        void write(byte[] b, int off, int len) {
            body.write(b, off, len);
        }

        /** The response in the format {@link Bridge#handle} returns: the head, an empty line, the body. */
        byte[] encode(boolean cut) {
            byte[] head = encodeHead(status, headers, cut);
            ByteArrayOutputStream out = new ByteArrayOutputStream(head.length + 1 + body.size());
            out.write(head, 0, head.length);
            out.write('\n');
            byte[] bytes = body.toByteArray();
            out.write(bytes, 0, bytes.length);
            return out.toByteArray();
        }
    }
}
