/*
 * pause: PID 1 of every Nodekit pod sandbox.
 *
 * Contract:
 *   - `pause -v` prints the version and exits 0.
 *   - Otherwise it holds the sandbox's namespaces open until SIGINT or SIGTERM, then exits 0.
 *   - It reaps every child it inherits (as PID 1 of a PID namespace, orphans reparent to it).
 *   - Before it waits it gives up everything it does not need: every capability in every set
 *     (effective, permitted, inheritable, ambient, bounding), no_new_privs, and a seccomp
 *     allow-list whose default action kills the process.
 *   - Any failure while hardening is fatal (exit 1, message on stderr), with one exception:
 *     a process without CAP_SETPCAP cannot shrink its bounding set, which then stays as the
 *     runtime set it; that is harmless because exec is impossible under the filter and
 *     no_new_privs forbids gaining file capabilities anyway.
 *
 * Build (static; see hack/images.sh):
 *   gcc -static -O2 -Wall -Werror -o out/images/pause-root/pause images/pause/pause.c -lseccomp -lcap
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <seccomp.h>
#include <unistd.h>

#define PAUSE_VERSION "nodekit-pause 1.0.0"

static void die(const char *what, int err) {
    fprintf(stderr, "pause: %s: %s\n", what, strerror(err));
    exit(1);
}

/* Signal handlers run after the filter is installed, so they may only use allowed calls. */
static void on_shutdown(int sig) {
    static const char message[] = "pause: shutting down\n";
    ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    int saved = errno;
    (void)sig;
    /* One SIGCHLD may stand for several exited children: reap until none is left. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static void install_handlers(void) {
    /* A blocked mask survives exec: a parent that blocked SIGTERM (many threaded runtimes do)
     * would leave pause unable to shut down, so start from an empty mask. */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) die("sigprocmask", errno);

    struct sigaction down = {0};
    down.sa_handler = on_shutdown;
    sigemptyset(&down.sa_mask);
    if (sigaction(SIGINT, &down, NULL) < 0) die("sigaction(SIGINT)", errno);
    if (sigaction(SIGTERM, &down, NULL) < 0) die("sigaction(SIGTERM)", errno);

    struct sigaction reap = {0};
    reap.sa_handler = on_child;
    sigemptyset(&reap.sa_mask);
    reap.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &reap, NULL) < 0) die("sigaction(SIGCHLD)", errno);
}

static void drop_capabilities(void) {
    /* The bounding set can only shrink while CAP_SETPCAP is still effective, so it goes first. */
    cap_value_t last = (cap_value_t)cap_max_bits();
    for (cap_value_t cap = 0; cap < last; cap++) {
        if (cap_drop_bound(cap) < 0) {
            if (errno == EPERM) {
                fprintf(stderr, "pause: no CAP_SETPCAP, bounding set left as the runtime set it\n");
                break;
            }
            if (errno == EINVAL) continue; /* a capability this kernel does not know */
            die("cap_drop_bound", errno);
        }
    }
    if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0) die("cap_reset_ambient", errno);

    cap_t empty = cap_init();
    if (empty == NULL) die("cap_init", errno);
    if (cap_set_proc(empty) < 0) die("cap_set_proc", errno);
    cap_free(empty);
}

static void install_seccomp(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl(PR_SET_NO_NEW_PRIVS)", errno);

    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL) die("seccomp_init", ENOMEM);
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) die("seccomp_attr_set(BADARCH)", -rc);

    /* What the main loop and the two handlers use: pause/ppoll (glibc's pause() may use
     * either), the handlers' wait4 and write, signal return, and both exit calls. */
    static const int allowed[] = {
        SCMP_SYS(pause),        SCMP_SYS(ppoll),      SCMP_SYS(wait4),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
        SCMP_SYS(exit),         SCMP_SYS(exit_group),
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
        if (rc < 0) die("seccomp_rule_add", -rc);
    }
    /* write only to stderr, for the shutdown message. */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(write), 1,
                          SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO));
    if (rc < 0) die("seccomp_rule_add(write)", -rc);

    rc = seccomp_load(ctx);
    if (rc < 0) die("seccomp_load", -rc);
    seccomp_release(ctx);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        printf("%s\n", PAUSE_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: pause [-v]\n");
        return 2;
    }
    if (getpid() != 1) {
        fprintf(stderr, "pause: warning: not PID 1, only its own children will be reaped\n");
    }

    install_handlers();
    /* A child that exited before the handler existed would otherwise stay a zombie. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    drop_capabilities();
    install_seccomp();

    for (;;) {
        pause();
    }
}
