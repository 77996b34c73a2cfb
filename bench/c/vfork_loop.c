/* The floor for a process-per-job dispatcher: run PROGRAM once per number 1..N, J at a time,
 * with vfork + execv and waitpid, passing the number as the one argument (as `cluster --exec
 * PROGRAM` does with inputs from `seq N`).  usage: vfork_loop J N PROGRAM */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: vfork_loop J N PROGRAM\n");
        return 2;
    }
    int j = atoi(argv[1]), n = atoi(argv[2]);
    int started = 0, running = 0, failed = 0;
    char num[32];
    while (started < n || running > 0) {
        while (running < j && started < n) {
            snprintf(num, sizeof num, "%d", ++started);
            char *args[] = {argv[3], num, NULL};
            pid_t pid = vfork();
            if (pid == 0) {
                execv(argv[3], args);
                _exit(127);
            }
            if (pid < 0) {
                perror("vfork");
                return 1;
            }
            running++;
        }
        int status;
        if (waitpid(-1, &status, 0) > 0) {
            running--;
            failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    return failed != 0;
}
