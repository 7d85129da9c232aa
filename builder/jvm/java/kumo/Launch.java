package kumo;

import java.io.Closeable;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLConnection;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * How Kumo's JVM runtime starts an app on a VM that was booted before the app's
 * command was known: the VM pre-initialised at build time (a Wizer snapshot of
 * the runtime component) is shared by every process of the app, so the
 * command's {@code -D} properties and main class reach it through here.
 *
 * <p>Arguments cross as UTF-8 byte arrays of {@code \0}-separated words.
 */
public final class Launch {

    private Launch() {
    }

    /**
     * Loads and initialises the named classes with the system class loader:
     * the runtime calls it while the snapshot is taken, so their
     * {@code <clinit>} (a language runtime's start-up) is paid once, at build.
     * A class that is not on the class path is skipped.
     *
     * <p>No file may stay open in the snapshot (its descriptor would not exist
     * in a dyno): jars opened through {@code jar:} URLs meanwhile (Clojure
     * reads its namespaces that way) are closed after use instead of cached,
     * and the jars the system class loader opened to search the class path
     * are closed at the end ({@link #reopenClassPath}).
     *
     * @return why the class path could not be closed, or nothing
     */
    public static byte[] warm(byte[] classes) {
        ClassLoader loader = ClassLoader.getSystemClassLoader();
        URLConnection.setDefaultUseCaches("jar", false);
        try {
            warmJdk(loader);
            for (String name : words(classes)) {
                try {
                    Class.forName(name, true, loader);
                } catch (ClassNotFoundException | LinkageError e) {
                    // Not this app's language: nothing to warm.
                }
            }
        } finally {
            URLConnection.setDefaultUseCaches("jar", true);
        }
        try {
            reopenClassPath(loader);
            return new byte[0];
        } catch (Throwable e) {
            return ("closing the class path's jars failed: " + e).getBytes(StandardCharsets.UTF_8);
        }
    }

    /** The JDK classes an app's web process all but always uses. */
    private static final String[] JDK_CLASSES = {
        "com.sun.net.httpserver.HttpServer", "com.sun.net.httpserver.HttpExchange",
        "com.sun.net.httpserver.HttpHandler", "com.sun.net.httpserver.Headers",
        "java.net.InetSocketAddress", "java.util.concurrent.atomic.AtomicLong",
    };

    /**
     * Runs the JDK machinery that an app's {@code main} and first request
     * bootstrap on first use, so the snapshot holds it ready: lambdas and
     * method references ({@code LambdaMetafactory}), string concatenation
     * ({@code StringConcatFactory}, as javac 9+ compiles {@code +}), and the
     * HttpServer API. Interpreted, that bootstrap is most of a wake.
     */
    static void warmJdk(ClassLoader loader) {
        long[] seen = {0};
        Runnable lambda = () -> seen[0]++;
        lambda.run();
        Function<String, Integer> length = String::length;
        seen[0] += length.apply("kumo");
        String joined = "kumo " + seen[0] + '/' + 1L + " " + 2.5 + true;
        Supplier<String> trim = joined::trim;
        seen[0] += trim.get().length() + Integer.parseInt("1") + Long.toString(seen[0]).length();
        for (String name : JDK_CLASSES) {
            try {
                Class.forName(name, true, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                // A class library without it: nothing to warm.
            }
        }
    }

    /**
     * Closes the jars the system class loader's {@code URLClassPath} opened
     * and lets it open them again at their next use, as it did the first time.
     */
    static void reopenClassPath(ClassLoader loader) throws ReflectiveOperationException, IOException {
        Object ucp = field(loader, Class.forName("jdk.internal.loader.BuiltinClassLoader"), "ucp");
        if (ucp == null) {
            return;
        }
        synchronized (ucp) {
            List<?> loaders = (List<?>) field(ucp, ucp.getClass(), "loaders");
            for (Object opened : loaders) {
                ((Closeable) opened).close();
            }
            loaders.clear();
            ((Map<?, ?>) field(ucp, ucp.getClass(), "lmap")).clear();
            @SuppressWarnings("unchecked")
            ArrayDeque<URL> unopened = (ArrayDeque<URL>) field(ucp, ucp.getClass(), "unopenedUrls");
            @SuppressWarnings("unchecked")
            List<URL> path = (List<URL>) field(ucp, ucp.getClass(), "path");
            synchronized (unopened) {
                unopened.clear();
                for (URL url : path) {
                    unopened.addLast(url);
                }
            }
        }
    }

    /**
     * A private field of a {@code java.base} class, read with
     * {@code sun.misc.Unsafe} ({@code jdk.unsupported}), since {@code java.base}
     * does not open its internals to reflection.
     */
    private static Object field(Object owner, Class<?> declaring, String name) throws ReflectiveOperationException {
        Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
        Field theUnsafe = unsafeClass.getDeclaredField("theUnsafe");
        theUnsafe.setAccessible(true);
        Object unsafe = theUnsafe.get(null);
        Object offset = unsafeClass.getMethod("objectFieldOffset", Field.class)
                .invoke(unsafe, declaring.getDeclaredField(name));
        return unsafeClass.getMethod("getObject", Object.class, long.class).invoke(unsafe, owner, offset);
    }

    /** Sets system properties given as {@code name}, {@code value} pairs, as {@code -D} does. */
    public static void properties(byte[] pairs) {
        List<String> words = words(pairs);
        for (int i = 0; i + 1 < words.size(); i += 2) {
            System.setProperty(words.get(i), words.get(i + 1));
        }
    }

    /**
     * Runs {@code public static void main(String[])} of the class named by the
     * first word with the rest as its arguments, as the {@code java} launcher
     * does; what {@code main} throws is thrown as is, with the frames below
     * {@code main} removed.
     */
    public static void main(byte[] command) throws Throwable {
        List<String> words = words(command);
        if (words.isEmpty()) {
            throw new IllegalArgumentException("no main class");
        }
        String name = words.get(0);
        String[] args = words.subList(1, words.size()).toArray(new String[0]);
        Class<?> main = Class.forName(name, true, ClassLoader.getSystemClassLoader());
        Method method;
        try {
            method = main.getMethod("main", String[].class);
        } catch (NoSuchMethodException e) {
            throw new NoSuchMethodError("Main method not found in class " + name
                    + ", please define the main method as: public static void main(String[] args)");
        }
        if (!Modifier.isStatic(method.getModifiers())) {
            throw new NoSuchMethodError("Main method is not static in class " + name);
        }
        try {
            method.invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            if (e.getCause() == null) {
                throw e;
            }
            throw fromMain(e.getCause());
        }
    }

    /** {@code t} without the frames below {@code main} (reflection, this class), as {@code java} prints it. */
    static Throwable fromMain(Throwable t) {
        StackTraceElement[] frames = t.getStackTrace();
        for (int i = 0; i < frames.length; i++) {
            String name = frames[i].getClassName();
            if (name.startsWith("jdk.internal.reflect.") || name.equals("java.lang.reflect.Method")
                    || name.equals(Launch.class.getName())) {
                t.setStackTrace(Arrays.copyOf(frames, i));
                break;
            }
        }
        return t;
    }

    static List<String> words(byte[] bytes) {
        List<String> words = new ArrayList<>();
        if (bytes == null || bytes.length == 0) {
            return words;
        }
        String text = new String(bytes, StandardCharsets.UTF_8);
        int start = 0;
        for (int i = 0; i <= text.length(); i++) {
            if (i == text.length() || text.charAt(i) == '\0') {
                words.add(text.substring(start, i));
                start = i + 1;
            }
        }
        return words;
    }
}
