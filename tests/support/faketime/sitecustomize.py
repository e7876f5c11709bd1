"""Loaded by every Python process of a time-travel run (`make test-faketime` puts this folder on
PYTHONPATH; the servers the tests start inherit it); it does nothing where FAKETIME is unset.

Debian's libfaketime 0.9.10 under Python 3.11, with the settings the Makefile uses
(FAKETIME_DONT_FAKE_MONOTONIC=1: with a faked monotonic clock every lock or Event wait with a
timeout hangs, as glibc's sem_clockwait is not intercepted; FAKETIME_FORCE_MONOTONIC_FIX=0: with
the fix, a thread waiting for the GIL spins instead of waiting), needs two mends:

- time.sleep is clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which libfaketime turns into a
  negative deadline: OSError EINVAL (wolfcw/libfaketime#426). Only when it fails here is it
  replaced by a select() with the same relative timeout, which libfaketime leaves alone.
- libfaketime calls getenv() on every timed wait for the GIL, from threads that do not hold it,
  while the tests' monkeypatch.setenv calls setenv(), which may move the C environment: the run
  dies of a segmentation fault now and then. So the C environment is left as the process started
  (os.putenv and os.unsetenv do nothing); os.environ changes as usual, Python code reads it, and
  a child process started without `env=` is given os.environ, as it would have inherited it.
"""

from __future__ import annotations

import os
import select
import subprocess
import time

_ENV_POSITION = 9  # subprocess.Popen(args, bufsize, executable, ..., cwd, env, ...)


def _sleep(seconds: float) -> None:
    select.select([], [], [], seconds)


def _leave_the_c_environment(*_args: object) -> None:
    return None


def _started_with_os_environ(init):
    def __init__(self, args, *rest, **options):
        if len(rest) <= _ENV_POSITION and options.get("env") is None:
            options["env"] = dict(os.environ)
        init(self, args, *rest, **options)

    return __init__


if os.environ.get("FAKETIME"):
    try:
        time.sleep(0.0001)
    except OSError:
        time.sleep = _sleep
    os.putenv = _leave_the_c_environment
    os.unsetenv = _leave_the_c_environment
    subprocess.Popen.__init__ = _started_with_os_environ(subprocess.Popen.__init__)
