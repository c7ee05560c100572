"""``var/stack.env`` left by a stack killed outright (SIGKILL): ``read_stack_env``, what
``./bin/manage`` loads it with, says it is stale and points at ``./bin/run`` instead of
handing a command the settings of a Redis that is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventhub.devtools.stack_env import StaleStackEnv, read_stack_env, write_stack_env

ROOT = Path(__file__).resolve().parents[2]


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stack_env(tmp_path: Path, pid: int | str) -> Path:
    path = tmp_path / "stack.env"
    path.write_text(f"REDIS_URL='redis://:secret@127.0.0.1:1/0'\nEVENTHUB_STACK_PID={pid}\n")
    return path


def test_a_stack_env_whose_runstack_is_gone_is_stale(tmp_path: Path):
    path = stack_env(tmp_path, dead_pid())
    with pytest.raises(StaleStackEnv) as refused:
        read_stack_env(path)
    message = str(refused.value)
    assert str(path) in message and "stale" in message and "./bin/run" in message


def test_a_pid_taken_by_another_program_is_not_the_stack(tmp_path: Path):
    """This test's own process is alive, but it is not a runstack."""
    with pytest.raises(StaleStackEnv):
        read_stack_env(stack_env(tmp_path, os.getpid()))
    with pytest.raises(StaleStackEnv):
        read_stack_env(stack_env(tmp_path, "garbage"))


def test_a_running_stacks_settings_are_read(tmp_path: Path):
    runstack = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", "runstack"],
        stdout=subprocess.PIPE,
        text=True,
    )  # stands in for `manage.py runstack` (its command line names it)
    try:
        assert runstack.stdout is not None and runstack.stdout.readline() == "up\n"
        values = read_stack_env(stack_env(tmp_path, runstack.pid))
    finally:
        runstack.kill()
        runstack.wait()
    assert values["REDIS_URL"] == "redis://:secret@127.0.0.1:1/0"


def test_no_file_is_no_settings(tmp_path: Path):
    assert read_stack_env(tmp_path / "stack.env") == {}


def test_what_runstack_writes_reads_back_with_its_pid(tmp_path: Path, settings):
    settings.VAR_DIR = tmp_path
    path = write_stack_env({"REDIS_URL": "redis://:p w'\"$x@127.0.0.1:2/0", "OTHER": "x"})
    text = path.read_text()
    assert f"EVENTHUB_STACK_PID={os.getpid()}" in text
    assert "OTHER" not in text
    # This process is no runstack, so the file reads as stale; its values parse back.
    with pytest.raises(StaleStackEnv):
        read_stack_env(path)
    path.write_text(text.replace(f"EVENTHUB_STACK_PID={os.getpid()}\n", ""))
    assert read_stack_env(path)["REDIS_URL"] == "redis://:p w'\"$x@127.0.0.1:2/0"


def test_bin_manage_stops_with_the_message(tmp_path: Path):
    """Through ``./bin/manage`` itself (a management command that needs no stack)."""
    var = tmp_path / "var"
    var.mkdir()
    stack_env(var, dead_pid())
    env = {**os.environ, "EVENTHUB_VAR_DIR": str(var)}
    done = subprocess.run(
        [str(ROOT / "bin" / "manage"), "check"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "stale" in done.stderr and "./bin/run" in done.stderr
