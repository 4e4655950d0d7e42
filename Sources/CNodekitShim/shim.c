#define _GNU_SOURCE
#include "CNodekitShim.h"
#include <sched.h>
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
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)) != 0) goto out;
    if ((rc = posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)) != 0) goto out;
    rc = posix_spawn(pid, path, &actions, NULL, argv, envp);
out:
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}
