"""`credproc exec --server` lives exactly as long as CMD: its exit status, its signals (sent to
credproc, typed on a real terminal, or the terminal hanging up), and a CMD that cannot start."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest
from ptyprocess import PtyProcess

from tests.conftest import PYTHON, World
from tests.served import SERVER_CMD, STATE, Served
from tests.test_commands import allow_core_dumps
from tests.test_server import free_port


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_exit_status_is_the_commands_and_the_port_closes_with_it(primed: World) -> None:
    served = Served(primed, more=("7",)).ready()
    assert served.credentials()["AccountId"] == "123456789012"
    code, stdout, stderr = served.stop()
    assert (code, stdout, stderr) == (7, "", "")
    assert port_is_closed(served.port)


def test_a_command_killed_by_a_signal_ends_credproc_by_the_same_signal(primed: World) -> None:
    served = Served(primed, command=["sh", "-c", "kill -TERM $$"])
    code, stdout, stderr = served.finish()
    assert (code, stdout, stderr) == (-signal.SIGTERM, "", "")


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_sent_to_credproc_reaches_the_command_once(primed: World, signo: int) -> None:
    served = Served(primed, mode="signals").ready()
    os.kill(served.proc.pid, signo)
    code, _, stderr = served.finish()
    assert served.signals() == [signal.Signals(signo).name]
    assert (code, stderr) == (-signo, "")
    assert port_is_closed(served.port)


def on_a_terminal(world: World, served: Served) -> PtyProcess:
    """credproc exec --server as a shell runs it on a terminal: the foreground job, with CMD."""
    process = PtyProcess.spawn(served.argv, env=world.env)
    deadline = time.monotonic() + 60
    while not (served.state / "env.json").exists():
        assert process.isalive() and time.monotonic() < deadline, "CMD did not start"
        time.sleep(0.02)
    return process


def died_of(process: PtyProcess) -> int:
    """The signal that ended it, waiting at most 30 s."""
    deadline = time.monotonic() + 30
    while True:
        pid, status = os.waitpid(process.pid, os.WNOHANG)
        if pid:
            assert os.WIFSIGNALED(status), status
            return os.WTERMSIG(status)
        assert time.monotonic() < deadline, "credproc did not end"
        time.sleep(0.02)


PRESSES = 4


@pytest.mark.parametrize("group", ["shared", "its own"])
def test_ctrl_c_on_the_terminal_reaches_the_command_once(primed: World, group: str) -> None:
    """The terminal sends Ctrl-C to its foreground process group, credproc and CMD alike;
    relayed, CMD would have it twice (terraform aborts without cleaning up on a second one).
    A CMD that left the group has it only when credproc relays it. Two deliveries close
    together can merge into one, so Ctrl-C is pressed several times."""
    cmd = [PYTHON, SERVER_CMD, "signals", STATE, str(PRESSES)]
    if group == "its own":
        leave = "import os, sys; os.setpgid(0, 0); os.execv(sys.argv[1], sys.argv[1:])"
        cmd = [PYTHON, "-c", leave, *cmd]
    served = Served(primed, command=cmd, start=False)
    process = on_a_terminal(primed, served)
    for press in range(1, PRESSES + 1):
        process.write(b"\x03")
        deadline = time.monotonic() + 10
        while len(served.signals()) < press:
            assert time.monotonic() < deadline, f"press {press}: {served.signals()}"
            time.sleep(0.01)
        time.sleep(0.1)
    assert died_of(process) == signal.SIGINT
    assert served.signals() == ["SIGINT"] * PRESSES


def test_a_terminal_hanging_up_reaches_the_command(primed: World) -> None:
    served = Served(primed, mode="signals", start=False)
    process = on_a_terminal(primed, served)
    os.close(process.fd)  # the terminal closes: its session leader, credproc, gets SIGHUP
    assert died_of(process) == signal.SIGHUP
    assert served.signals() == ["SIGHUP"]


@pytest.mark.parametrize("kind", ["missing", "not executable"])
def test_a_command_that_is_not_there_fails_before_a_code_is_asked(world: World, kind: str) -> None:
    world.standard_config()
    program = world.root / "tool"
    if kind == "not executable":
        program.write_text("#!/bin/sh\n")
    code, stdout, stderr = Served(world, command=[str(program), "apply"]).finish()
    assert (code, stdout) == (2, "")
    assert stderr == (
        f"credproc: cannot run {program}: not found, or not an executable file "
        "(check the command)\n"
    )
    assert world.prompts() == 0 and world.sts.calls == []


def test_a_command_that_cannot_start_is_one_line_and_leaves_no_server(primed: World) -> None:
    program = primed.root / "tool"
    program.write_text("#!/no/such/interpreter\n")  # found and executable, yet exec fails
    program.chmod(0o755)
    port = free_port()
    code, stdout, stderr = Served(primed, "--port", str(port), command=[str(program)]).finish()
    assert (code, stdout) == (2, "")
    assert (
        stderr == f"credproc: cannot run {program}: No such file or directory (check the command)\n"
    )
    assert port_is_closed(port)


def test_the_command_gets_the_users_core_limit_and_no_blocked_signals(primed: World) -> None:
    """credproc blocks the signals it waits for and allows itself no core file; CMD must
    start with neither."""
    show = (
        "import resource; print(resource.getrlimit(resource.RLIMIT_CORE)[0]); "
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('SigBlk')][0])"
    )
    done = primed.run(
        "exec",
        "--profile",
        "prod-mfa",
        "--server",
        "--",
        PYTHON,
        "-c",
        show,
        preexec_fn=allow_core_dumps,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(1 << 20), "0" * 16]
