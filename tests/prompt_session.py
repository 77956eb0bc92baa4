"""A real pseudo-terminal as a person's terminal: credproc (or boto3) runs in it as in a shell,
with stdout and stderr going to files; the test types into the terminal and reads from it."""

from __future__ import annotations

import io
import itertools
import json
import re
from typing import Any

import pexpect

from tests.conftest import CREDPROC, DEVICE, PYTHON, ROOT, World, section

SESSION = str(ROOT / "tests" / "pty_session.py")
_numbers = itertools.count()


class Session:
    def __init__(
        self,
        world: World,
        *args: str,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> None:
        number = next(_numbers)
        self.out = world.root / f"stdout-{number}"
        self.err = world.root / f"stderr-{number}"
        argv = [SESSION, str(self.out), str(self.err), *(command or [CREDPROC, *args])]
        self.transcript = io.StringIO()
        self.child = pexpect.spawn(
            PYTHON,
            argv,
            env={"TERM": "dumb", **world.env, **(env or {})},
            encoding="utf-8",
            codec_errors="replace",
            timeout=timeout,
            dimensions=(24, 100),
        )
        self.child.logfile_read = self.transcript
        self.child.expect(r"MODES-BEFORE (\S+)\r?\n")
        self.modes_before = self.child.match.group(1)
        self.code: int | None = None

    def expect(self, text: str, timeout: float | None = None) -> None:
        """Wait for `text` (literal) on the terminal."""
        self.child.expect_exact(text, timeout=timeout if timeout is not None else -1)

    def type(self, keys: str) -> None:
        self.child.send(keys)

    def finish(self, timeout: float | None = None) -> int:
        """Wait for the command's end; its exit code. Checks the terminal was left as found."""
        self.child.expect(r"EXIT (-?\d+)\r?\n", timeout=timeout if timeout is not None else -1)
        self.code = int(self.child.match.group(1))
        self.child.expect(r"MODES-AFTER (\S+)\r?\n")
        self.modes_after = self.child.match.group(1)
        self.child.expect(r"ECHO (on|off)\r?\n")
        self.echo = self.child.match.group(1)
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.code

    @property
    def screen(self) -> str:
        """Everything the terminal showed, line endings as \\n."""
        return self.transcript.getvalue().replace("\r\n", "\n")

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def credentials(self) -> dict[str, Any]:
        lines = self.stdout().splitlines()
        assert len(lines) == 1, self.stdout()
        out: dict[str, Any] = json.loads(lines[0])
        return out

    def left_terminal_sane(self) -> bool:
        return self.modes_after == self.modes_before and self.echo == "on"


def token_codes(world: World) -> list[str]:
    return [call["TokenCode"] for call in world.sts.calls if "TokenCode" in call]


def count(text: str, pattern: str) -> int:
    return len(re.findall(re.escape(pattern), text))


def direct_roles(world: World, mfa_process: str | None = None) -> None:
    """Two roles of one device, each assumed with its own code (no MFA session)."""
    world.standard_config(
        *(
            section(
                f"role-{name}",
                role_arn=f"arn:aws:iam::123456789012:role/{name}",
                source_profile="base",
                mfa_serial=DEVICE,
                credproc_mfa_session="false",
            )
            for name in ("a", "b")
        ),
        mfa_process=mfa_process,
    )
