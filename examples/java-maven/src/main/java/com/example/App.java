package com.example;

import com.google.gson.Gson;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** A Maven-built web app with a dependency from Maven Central (Gson), run as `java -jar`. */
public class App {
    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        Gson gson = new Gson();
        server.createContext("/", exchange -> {
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("app", "java-maven");
            body.put("path", exchange.getRequestURI().getPath());
            body.put("greeting", System.getenv().getOrDefault("GREETING", "Hello"));
            byte[] bytes = gson.toJson(body).getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
    }
}
