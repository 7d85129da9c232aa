/* A CGI web app in C for Kumo: each request runs this program with the
 * request in its environment (REQUEST_METHOD, PATH_INFO, QUERY_STRING) and
 * its body on stdin; it writes the response's headers and body to stdout. */
#include <stdio.h>
#include <stdlib.h>

static const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value && *value ? value : fallback;
}

int main(void) {
    printf("Status: 200 OK\r\n");
    printf("Content-Type: text/plain\r\n\r\n");
    printf("%s from C on Kumo: %s %s\n", env_or("GREETING", "Hello"),
           env_or("REQUEST_METHOD", "GET"), env_or("PATH_INFO", "/"));
    printf("Served by %s of release %s.\n", env_or("DYNO", "?"),
           env_or("KUMO_RELEASE_VERSION", "?"));
    return 0;
}
