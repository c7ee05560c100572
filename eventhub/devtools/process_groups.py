"""Child processes in process groups of their own, and how to stop every one of them.

Shared by ``runstack`` and the benchmark. Each child leads a new process group
(``process_group=0``, so the group id is its pid) and is killed by the kernel if its parent
dies, however it dies (``PR_SET_PDEATHSIG``): a SIGKILLed launcher leaves no daphne, worker
or Redis behind. Stopping sends SIGTERM to each group leader (a Celery worker's warm
shutdown), waits up to ``STOP_GRACE_SECONDS``, then SIGKILLs whatever is left in the group,
orphaned grandchildren (a worker's pool) included.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings

STOP_GRACE_SECONDS = 10.0
GROUP_EXIT_SECONDS = 5.0
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn: the kernel SIGKILLs the child when this process dies, however it dies."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
    sigkill = int(signal.SIGKILL)

    def setup() -> None:
        if prctl is None:
            return
        prctl(PR_SET_PDEATHSIG, sigkill)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    echo: threading.Thread

    @property
    def running(self) -> bool:
        return self.proc.poll() is None


class ChildExited(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} exited with code {child.proc.returncode}")
        self.child = child


def group_gone(child: Child) -> bool:
    """Whether no process is left in the child's group."""
    try:
        os.killpg(child.proc.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def signal_group(child: Child, sig: signal.Signals, *, leader_only: bool = False) -> None:
    """Send ``sig`` to the child's whole group, or to its leader alone while it runs."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if leader_only:
            if child.proc.returncode is None:
                child.proc.send_signal(sig)
        else:
            os.killpg(child.proc.pid, sig)  # process_group=0: the group id is the leader's pid


@dataclass
class Stack:
    """The processes a launcher started, and how to stop them all."""

    out: IO[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def start(self, name: str, argv: list[str]) -> Child:
        """Start ``argv`` in a new process group, its output prefixed with ``name``."""
        proc = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=die_with_parent(os.getpid()),
        )
        echo = threading.Thread(target=self._echo, args=(name, proc), daemon=True)
        echo.start()
        child = Child(name, argv, proc, echo)
        self.children.append(child)
        return child

    def _echo(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self.say(f"{name:<6} | {raw.decode(errors='replace').rstrip()}")

    def check_running(self) -> None:
        for child in self.children:
            if not child.running:
                raise ChildExited(child)

    def wait_for_exit(self) -> Child:
        """Block until a child exits (without reaping others) and return it."""
        while True:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            exited = [c for c in self.children if not c.running]
            if exited:
                return exited[0]
            if info is not None:  # not one of ours: reap it so that waitid does not spin
                os.waitpid(info.si_pid, 0)

    def reap(self, child: Child) -> None:
        """Forget an exited child, after killing whatever is left in its group."""
        signal_group(child, signal.SIGKILL)
        child.proc.wait()
        child.echo.join(timeout=2)
        self.children.remove(child)
        deadline = time.monotonic() + GROUP_EXIT_SECONDS
        while not group_gone(child) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the children, Redis last: SIGTERM to each group leader, SIGKILL the rest."""
        redis = [c for c in self.children if c.name == "redis"]
        for group in ([c for c in self.children if c.name != "redis"], redis):
            for child in group:
                signal_group(child, signal.SIGTERM, leader_only=True)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in group:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                # Whatever is left in the group (a stuck leader, an orphaned grandchild) dies.
                signal_group(child, signal.SIGKILL)
                child.proc.wait()
                child.echo.join(timeout=2)
        self.children.clear()
