/* dirlock.h - one writer per output directory. A command that writes a run
 * directory (train, probe, study) locks it first: flock(LOCK_EX) on
 * DIR/.augprobe.lock, which holds the holder's PID. A second writer is
 * refused with one line naming the directory and that PID. The kernel drops
 * a flock when its process ends, however it ends (kill -9 included), so a
 * lock left by a dead process never blocks. Under MPI (not yet), the
 * coordinating rank would hold it.
 *
 * Locks are counted per process: locking a directory this process already
 * holds (cmd_train, then train_run inside it; a study training its networks)
 * succeeds, and only the last release drops it. The first lock of a
 * directory also removes the temp files (NAME.tmp.PID) that a killed writer
 * left in it and in its subdirectories (2 levels: a study's cells/ and
 * seed<s>/<net>/). */
#ifndef AUGPROBE_DIRLOCK_H
#define AUGPROBE_DIRLOCK_H

#include "common.h"

#define DIRLOCK_FILE ".augprobe.lock"

/* Creates dir (mkdir -p) and locks it. Returns a handle (>= 0) for
 * dir_unlock, or -1 with one line in e:
 *   "DIR: in use by another augprobe (pid N): wait for it to finish or use
 *    another --out" */
int dir_lock(const char *dir, Err *e);
/* Releases one hold (the handle dir_lock returned; -1 is ignored). The
 * process's exit releases everything anyway. */
void dir_unlock(int handle);

#endif
