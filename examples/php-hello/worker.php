<?php
// A worker (and a one-off: kumo run -a APP -- php worker.php ARGS).
$greeting = getenv('GREETING') ?: 'Hello';
$args = array_slice($argv, 1);
if (($args[0] ?? '') === 'fail') {
    fwrite(STDERR, "worker: asked to fail\n");
    exit(3);
}
if (($args[0] ?? '') === 'once') {
    echo "$greeting from the PHP worker: args=" . implode(',', array_slice($args, 1)) . "\n";
    exit(0);
}
for ($round = 1; ; $round++) {
    echo "$greeting from the PHP worker: round $round\n";
    sleep(5);
}
