#define _GNU_SOURCE
#include "CNodekitShim.h"
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/syscall.h>

int nk_setns(int fd, int nstype) { return setns(fd, nstype); }

pid_t nk_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int nk_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int nk_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             int stdin_fd, int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) != 0) goto out;
    /* Descriptors the parent did not mark close-on-exec (Foundation's pipes, for one) must not
     * leak into the child: a daemon it starts (containerd) would hold another command's pipe
     * open, and that command's reader would wait for EOF forever. */
    if ((rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) != 0) goto out;
    /* The child starts with no blocked signals and default dispositions, whatever the
     * spawning thread had, so SIGTERM stops it. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if ((rc = posix_spawnattr_setsigmask(&attr, &none)) != 0) goto out;
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0) goto out;
    if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0) goto out;
    rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
out:
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}
