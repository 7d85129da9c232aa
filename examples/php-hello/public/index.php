<?php
// The front controller: every path that is not a file comes here.
declare(strict_types=1);

session_start();
$_SESSION['visits'] = ($_SESSION['visits'] ?? 0) + 1;
$greeting = getenv('GREETING') ?: 'Hello';
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);

switch ($path) {
    case '/':
        header('Content-Type: text/html; charset=utf-8');
        $name = htmlspecialchars($_COOKIE['name'] ?? 'stranger');
        echo "<!doctype html><link rel=stylesheet href=/style.css>\n";
        echo "<h1>$greeting, $name, from PHP " . PHP_VERSION . " on Kumo</h1>\n";
        echo "<p>Visit {$_SESSION['visits']} of this session.</p>\n";
        echo "<form method=post action=/greet><input name=name><button>Greet</button></form>\n";
        break;
    case '/greet':
        if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
            http_response_code(405);
            header('Allow: POST');
            break;
        }
        $name = trim((string) ($_POST['name'] ?? ''));
        if ($name === '') {
            http_response_code(422);
            echo "name is required\n";
            break;
        }
        // Logs go to stderr, as on Heroku: they reach `kumo logs` as app[web.1] lines.
        file_put_contents('php://stderr', "greeted $name\n");
        setcookie('name', $name, ['path' => '/', 'httponly' => true]);
        header('Content-Type: text/plain; charset=utf-8');
        echo "$greeting, " . mb_strtoupper($name) . "!\n";
        break;
    case '/info':
        header('Content-Type: application/json');
        echo json_encode([
            'script' => $_SERVER['SCRIPT_NAME'],
            'uri' => $_SERVER['REQUEST_URI'],
            'query' => $_GET,
            'timezone' => date_default_timezone_get(),
            'visits' => $_SESSION['visits'],
            'body' => file_get_contents('php://input'),
            'extensions' => array_map('strtolower', get_loaded_extensions()),
        ]), "\n";
        break;
    case '/notes':
        $db = new PDO('sqlite:/tmp/notes.db');
        $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
        $db->exec('CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)');
        if ($_SERVER['REQUEST_METHOD'] === 'POST') {
            $insert = $db->prepare('INSERT INTO notes (text) VALUES (?)');
            $insert->execute([file_get_contents('php://input')]);
        }
        header('Content-Type: text/plain; charset=utf-8');
        foreach ($db->query('SELECT id, text FROM notes ORDER BY id') as $row) {
            echo "{$row['id']}: {$row['text']}\n";
        }
        break;
    case '/upload':
        $file = $_FILES['file'] ?? null;
        if ($file === null || $file['error'] !== UPLOAD_ERR_OK) {
            http_response_code(400);
            echo "send a file in the field `file`\n";
            break;
        }
        header('Content-Type: text/plain; charset=utf-8');
        echo "{$file['name']} ({$file['size']} bytes): " . file_get_contents($file['tmp_name']) . "\n";
        break;
    case '/fail':
        throw new RuntimeException('this route always fails');
    default:
        http_response_code(404);
        header('Content-Type: text/plain; charset=utf-8');
        echo "no page at $path\n";
}
