package com.example;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;

/**
 * A worker or one-off: prints its arguments and the first line of stdin; `fail`
 * throws (exit status 1), `exit N` calls System.exit(N).
 */
public class Worker {
    public static void main(String[] args) throws IOException {
        System.out.println("worker: args=" + String.join(",", args));
        if (args.length > 0 && args[0].equals("stdin")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            System.out.println("worker: read " + in.readLine());
        }
        if (args.length > 1 && args[0].equals("exit")) {
            System.exit(Integer.parseInt(args[1]));
        }
        if (args.length > 0 && args[0].equals("fail")) {
            throw new IllegalArgumentException("asked to fail");
        }
    }
}
