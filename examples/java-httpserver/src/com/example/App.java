package com.example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/** A web app on the JDK's own HTTP server, as it runs anywhere: Kumo serves it unchanged. */
public class App {
    private static final AtomicLong HITS = new AtomicLong();

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", App::hello);
        server.createContext("/echo", App::echo);
        server.createContext("/chat", App::chat);
        server.createContext("/sum", exchange -> {
            String query = exchange.getRequestURI().getQuery();
            int n = Integer.parseInt(query == null ? "1000" : query.replace("n=", ""));
            long started = System.nanoTime();
            long total = Sum.sum(n);
            send(exchange, 200, total + " in " + (System.nanoTime() - started) / 1_000_000 + " ms\n");
        });
        server.createContext("/fail", exchange -> {
            throw new IllegalStateException("this route always fails");
        });
        server.start();
        System.out.println(System.getProperty("app.name") + " listening on port " + port);
    }

    private static void hello(HttpExchange exchange) throws IOException {
        String greeting = System.getenv().getOrDefault("GREETING", "Hello");
        long hits = HITS.incrementAndGet();
        send(exchange, 200, greeting + " from Java on Kumo (request " + hits + ")\n");
    }

    private static void echo(HttpExchange exchange) throws IOException {
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
        }
        String text = exchange.getRequestMethod() + " " + exchange.getRequestURI()
                + " type=" + exchange.getRequestHeaders().getFirst("Content-Type")
                + " body=" + new String(body, StandardCharsets.UTF_8) + "\n";
        exchange.getResponseHeaders().add("X-Echo", "yes");
        send(exchange, 200, text);
    }

    /** Answers each line of the request body as it arrives: both bodies stream. */
    private static void chat(HttpExchange exchange) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(200, 0);
        BufferedReader lines = new BufferedReader(
                new InputStreamReader(exchange.getRequestBody(), StandardCharsets.UTF_8));
        try (OutputStream out = exchange.getResponseBody()) {
            String line;
            while ((line = lines.readLine()) != null) {
                out.write(("you said: " + line + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private static void send(HttpExchange exchange, int status, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
