#ifndef CNODEKIT_SHIM_H
#define CNODEKIT_SHIM_H
// Helpers for libc and kernel interfaces that Swift cannot call directly (macros, variadics,
// _GNU_SOURCE-only declarations). Every function is prefixed nk_.
#include <stdint.h>
#include <sys/types.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/if_addr.h>

/// CLONE_NEWNET from <sched.h>, which needs _GNU_SOURCE to be visible.
static const int NK_CLONE_NEWNET = 0x40000000;

/// setns(2): moves the calling thread into the namespace `fd` refers to.
int nk_setns(int fd, int nstype);
/// gettid(2): the kernel thread id of the calling thread.
pid_t nk_gettid(void);
/// pipe2(2) with O_CLOEXEC on both ends.
int nk_pipe_cloexec(int fds[2]);
/// posix_spawn with stdin/stdout/stderr redirected to the given fds (the child closes the others
/// through O_CLOEXEC). Returns 0 or an errno value; `pid` receives the child's pid.
int nk_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
             int stdin_fd, int stdout_fd, int stderr_fd);
#endif
