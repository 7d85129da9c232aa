<?php
// A script of its own: /about.php runs it, with anything after it as PATH_INFO.
header('Content-Type: text/plain; charset=utf-8');
echo "about: script={$_SERVER['SCRIPT_NAME']} path_info=" . ($_SERVER['PATH_INFO'] ?? '') . "\n";
