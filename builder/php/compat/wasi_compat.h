/* Kumo's compat shim for building PHP (and SQLite) for wasm32-wasip1.
 *
 * Force-included (clang -include) into every PHP and SQLite translation unit.
 * It declares the POSIX functions and constants that wasi-libc (wasip1) does
 * not have, so PHP's sources compile unchanged; wasi_compat.c implements them
 * as honest failures (ENOSYS), no-ops or fixed answers. The headers in
 * include/ stand in for <netdb.h>, <pwd.h>, <grp.h>, <syslog.h> and <sys/un.h>.
 * None of this is reached by a plain CGI request; it is what lets the
 * functions that WASI cannot do (processes, sockets, users) fail cleanly. */
#ifndef KUMO_WASI_COMPAT_H
#define KUMO_WASI_COMPAT_H
#ifdef __wasi__
#include <sys/types.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "include/netdb.h"
#include "include/pwd.h"
#include "include/grp.h"
#include "include/syslog.h"

/* Processes: there are none to start, wait for or signal. */
FILE *popen(const char *, const char *);
int pclose(FILE *);
pid_t getppid(void); pid_t setsid(void); pid_t getpgrp(void);
pid_t fork(void); pid_t wait(int *); pid_t waitpid(pid_t, int *, int);
int kill(pid_t, int);
struct sigaction { void (*sa_handler)(int); sigset_t sa_mask; int sa_flags; };
#ifndef SA_RESTART
#define SA_RESTART 0x10000000
#endif
int sigaction(int, const struct sigaction *__restrict, struct sigaction *__restrict);
int sigemptyset(sigset_t *); int sigaddset(sigset_t *, int);
int sigprocmask(int, const sigset_t *__restrict, sigset_t *__restrict);

/* Users and ownership: one user, uid 0; chown is a no-op. */
int chown(const char *, uid_t, gid_t);
int fchown(int, uid_t, gid_t);
int lchown(const char *, uid_t, gid_t);
mode_t umask(mode_t);
uid_t getuid(void); uid_t geteuid(void);
gid_t getgid(void); gid_t getegid(void);
int getgroups(int, gid_t []);

/* File descriptors. */
int dup(int); int dup2(int, int);
int getdtablesize(void);
char *mktemp(char *);

/* Sockets: wasip1 cannot create, bind or connect one. */
in_addr_t inet_addr(const char *);
int getsockopt(int, int, int, void *__restrict, socklen_t *__restrict);
int setsockopt(int, int, int, const void *, socklen_t);
int socket(int, int, int);
int bind(int, const struct sockaddr *, socklen_t);
int listen(int, int);
int connect(int, const struct sockaddr *, socklen_t);
int getsockname(int, struct sockaddr *__restrict, socklen_t *__restrict);
int getpeername(int, struct sockaddr *__restrict, socklen_t *__restrict);
ssize_t sendto(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
ssize_t recvfrom(int, void *__restrict, size_t, int, struct sockaddr *__restrict, socklen_t *__restrict);
#ifndef SO_ERROR
#define SO_ERROR 4
#endif
#ifndef SOL_IP
#define SOL_IP 0
#endif
#ifndef POLLPRI
#define POLLPRI 0x002
#endif
#ifndef MSG_OOB
#define MSG_OOB 0x0001
#endif

/* Record locks: wasi-libc has struct flock but hides the constants; its
 * fcntl() rejects them (EINVAL), so flock() reports failure. */
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif
#ifndef F_GETLK
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
#endif
#endif
