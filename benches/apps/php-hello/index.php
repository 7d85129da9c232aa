<?php
// The PHP hello app of the benchmark suite (BENCHMARKS.md section 15).
header('Content-Type: text/plain');
echo "Hello from PHP ", PHP_VERSION, " on Kumo\n";
