/* The functions wasi_compat.h declares: each fails with an errno, does
 * nothing, or gives the one answer that is true in a WASI sandbox. */
#include "wasi_compat.h"
#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/mman.h>

#define NOSYS(ret) do { errno = ENOSYS; return ret; } while (0)

/* Processes */
FILE *popen(const char *c, const char *m) { NOSYS(NULL); }
int pclose(FILE *f) { NOSYS(-1); }
pid_t getppid(void) { return 1; }
pid_t setsid(void) { NOSYS(-1); }
pid_t getpgrp(void) { return getpid(); }
pid_t fork(void) { NOSYS(-1); }
pid_t wait(int *s) { errno = ECHILD; return -1; }
pid_t waitpid(pid_t p, int *s, int o) { errno = ECHILD; return -1; }
int kill(pid_t p, int s) { NOSYS(-1); }
int sigaction(int s, const struct sigaction *a, struct sigaction *o) { if (o) memset(o, 0, sizeof *o); return 0; }
int sigemptyset(sigset_t *s) { memset(s, 0, sizeof *s); return 0; }
int sigaddset(sigset_t *s, int n) { return 0; }
int sigprocmask(int h, const sigset_t *s, sigset_t *o) { if (o) memset(o, 0, sizeof *o); return 0; }

/* Users */
int chown(const char *p, uid_t u, gid_t g) { return 0; }
int fchown(int fd, uid_t u, gid_t g) { return 0; }
int lchown(const char *p, uid_t u, gid_t g) { return 0; }
mode_t umask(mode_t m) { return 022; }
uid_t getuid(void) { return 0; }
uid_t geteuid(void) { return 0; }
gid_t getgid(void) { return 0; }
gid_t getegid(void) { return 0; }
int getgroups(int n, gid_t l[]) { return 0; }
struct passwd *getpwnam(const char *n) { return NULL; }
struct passwd *getpwuid(uid_t u) { return NULL; }
int getpwnam_r(const char *n, struct passwd *p, char *b, size_t l, struct passwd **r) { *r = NULL; return 0; }
int getpwuid_r(uid_t u, struct passwd *p, char *b, size_t l, struct passwd **r) { *r = NULL; return 0; }
struct group *getgrnam(const char *n) { return NULL; }
struct group *getgrgid(gid_t g) { return NULL; }
int getgrnam_r(const char *n, struct group *g, char *b, size_t l, struct group **r) { *r = NULL; return 0; }
int getgrgid_r(gid_t gi, struct group *g, char *b, size_t l, struct group **r) { *r = NULL; return 0; }

/* File descriptors */
int dup(int fd) { NOSYS(-1); }
int dup2(int a, int b) { NOSYS(-1); }
int getdtablesize(void) { return 1024; }
/* configure finds no mkstemp for wasi; PHP then names temp files with mktemp. */
char *mktemp(char *t) {
    static const char cs[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = strlen(t);
    unsigned char r[6];
    if (n < 6 || strcmp(t + n - 6, "XXXXXX") != 0) { errno = EINVAL; t[0] = 0; return t; }
    arc4random_buf(r, sizeof r);
    for (int i = 0; i < 6; i++) t[n - 6 + i] = cs[r[i] % (sizeof cs - 1)];
    return t;
}
/* Zend MM only gives hints with it; the emulated-mman library lacks it. */
int madvise(void *a, size_t l, int adv) { return 0; }

/* Sockets and names */
int h_errno;
in_addr_t inet_addr(const char *c) { struct in_addr a; return inet_pton(AF_INET, c, &a) == 1 ? a.s_addr : (in_addr_t)-1; }
int setsockopt(int s, int l, int o, const void *v, socklen_t n) { errno = ENOTSOCK; return -1; }
int socket(int d, int t, int p) { NOSYS(-1); }
int bind(int s, const struct sockaddr *a, socklen_t l) { NOSYS(-1); }
int listen(int s, int b) { NOSYS(-1); }
int connect(int s, const struct sockaddr *a, socklen_t l) { NOSYS(-1); }
int getsockname(int s, struct sockaddr *a, socklen_t *l) { errno = ENOTSOCK; return -1; }
/* ENOTSOCK on stdin makes fcgi_is_fastcgi() false: php-cgi stays plain CGI. */
int getpeername(int s, struct sockaddr *a, socklen_t *l) { errno = ENOTSOCK; return -1; }
ssize_t sendto(int s, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l) { NOSYS(-1); }
ssize_t recvfrom(int s, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l) { NOSYS(-1); }
int getaddrinfo(const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r) { return EAI_FAIL; }
void freeaddrinfo(struct addrinfo *a) {}
const char *gai_strerror(int e) { return "name resolution is not available on WASI"; }
int getnameinfo(const struct sockaddr *a, socklen_t l, char *h, socklen_t hl, char *s, socklen_t sl, int f) { return EAI_FAIL; }
struct hostent *gethostbyname(const char *n) { h_errno = NO_RECOVERY; return NULL; }
struct hostent *gethostbyaddr(const void *a, socklen_t l, int t) { h_errno = NO_RECOVERY; return NULL; }
struct servent *getservbyname(const char *n, const char *p) { return NULL; }
struct servent *getservbyport(int p, const char *pr) { return NULL; }
struct protoent *getprotobyname(const char *n) { return NULL; }
struct protoent *getprotobynumber(int p) { return NULL; }
const char *hstrerror(int e) { return "name resolution is not available on WASI"; }

/* syslog: there is no syslogd; messages go to stderr, the dyno's log. */
void openlog(const char *i, int o, int f) {}
void closelog(void) {}
void vsyslog(int p, const char *fmt, va_list ap) { vfprintf(stderr, fmt, ap); fputc('\n', stderr); }
void syslog(int p, const char *fmt, ...) { va_list ap; va_start(ap, fmt); vsyslog(p, fmt, ap); va_end(ap); }
