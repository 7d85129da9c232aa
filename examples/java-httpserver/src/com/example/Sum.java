package com.example;

/** A compute loop for the benchmarks: the sum of 0..n-1 as longs. */
public class Sum {
    public static long sum(int n) {
        long total = 0;
        for (int i = 0; i < n; i++) {
            total += i;
        }
        return total;
    }

    /** `java com.example.Sum N`: prints the sum and the milliseconds it took. */
    public static void main(String[] args) {
        int n = Integer.parseInt(args[0]);
        long started = System.nanoTime();
        long total = sum(n);
        System.out.println(total + " in " + (System.nanoTime() - started) / 1_000_000 + " ms");
    }
}
