"""GNOME Keyring's Secret Service in a private D-Bus session, as a desktop session has it: the
real daemon on a bus of its own, reached by the real keyring library in credproc. The bus
activates nothing, so a stopped daemon stays stopped (no locked one started in its place).

What a test does to the keystore it does through D-Bus, as a person's tools would: lock the
collection, delete or read the vault key, and count the keystore's answers with dbus-monitor.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import secretstorage
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection

PASSWORD = b"login-password"
SECRETS = "org.freedesktop.secrets"
VAULT_KEY = {"service": "credproc", "username": "vault-key"}  # keyring's attributes
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={run}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
BUS = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")


class SecretService:
    def __init__(self, root: Path, *, unlocked: bool = True) -> None:
        root.mkdir(parents=True, exist_ok=True)
        home, run = root / "home", root / "run"
        home.mkdir(exist_ok=True)
        run.mkdir(mode=0o700, exist_ok=True)
        (root / "bus.conf").write_text(BUS_CONFIG.format(run=run))
        base = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_RUNTIME_DIR": str(run)}
        bus = ["dbus-daemon", f"--config-file={root / 'bus.conf'}", "--fork"]
        started = subprocess.run(
            [*bus, "--print-address=1", "--print-pid=1"],
            capture_output=True,
            text=True,
            env=base,
            timeout=10,
            check=True,
        )
        address, pid = started.stdout.split()[:2]
        self.address, self.bus_pid = address, int(pid)
        # what credproc needs to find this keystore, and nothing of the machine's own
        self.env = {"DBUS_SESSION_BUS_ADDRESS": address, "XDG_RUNTIME_DIR": str(run)}
        command = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        self.daemon = subprocess.Popen(
            command + (["--unlock"] if unlocked else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**base, "DBUS_SESSION_BUS_ADDRESS": address},
        )
        assert self.daemon.stdin is not None
        if unlocked:
            self.daemon.stdin.write(PASSWORD)
        self.daemon.stdin.close()
        self._wait_for_name()

    def _wait_for_name(self) -> None:
        deadline = time.monotonic() + 10
        with self.connection() as conn:
            while time.monotonic() < deadline:
                call = new_method_call(BUS, "NameHasOwner", "s", (SECRETS,))
                if conn.send_and_get_reply(call).body[0]:
                    return
                time.sleep(0.05)
        raise RuntimeError("gnome-keyring-daemon did not take its name on the bus")

    @contextlib.contextmanager
    def connection(self) -> Iterator[DBusConnection]:
        conn = open_dbus_connection(bus=self.address)
        try:
            yield conn
        finally:
            conn.close()

    def _collection(self, conn: DBusConnection) -> secretstorage.Collection:
        return secretstorage.get_default_collection(conn)

    def vault_key(self) -> str | None:
        """The vault key as credproc stored it (base64), or None."""
        with self.connection() as conn:
            items = list(self._collection(conn).search_items(VAULT_KEY))
            return items[0].get_secret().decode() if items else None

    def delete_vault_key(self) -> None:
        with self.connection() as conn:
            for item in self._collection(conn).search_items(VAULT_KEY):
                item.delete()

    def lock(self) -> None:
        with self.connection() as conn:
            self._collection(conn).lock()
            assert self._collection(conn).is_locked()

    def stop_bus(self) -> None:
        """D-Bus itself gone, as after a session ended; the daemon goes with it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.bus_pid, signal.SIGTERM)

    def stop(self) -> None:
        self.daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.daemon.wait(5)
        if self.daemon.poll() is None:
            self.daemon.kill()
        self.stop_bus()

    @contextlib.contextmanager
    def watch(self) -> Iterator[Calls]:
        """Every method call on the bus while inside, as dbus-monitor sees it."""
        calls = Calls(self)
        try:
            yield calls
        finally:
            calls.stop()


class Calls:
    """dbus-monitor on the private bus: the keystore's callers, counted by method."""

    def __init__(self, service: SecretService) -> None:
        self.service = service
        self.lines: list[str] = []
        self.marks = 0
        self.monitor = subprocess.Popen(
            ["dbus-monitor", "--address", service.address, "type='method_call'"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._sync()  # dbus-monitor is listening: what comes next is seen
        self.lines.clear()

    def _read(self) -> None:
        assert self.monitor.stdout is not None
        for line in self.monitor.stdout:
            self.lines.append(line)

    def _sync(self) -> None:
        """A call of our own, seen only after every call made before it."""
        self.marks += 1
        mark = f"credproc.test.mark{self.marks}"
        deadline = time.monotonic() + 10
        while not any(mark in line for line in self.lines):
            if time.monotonic() > deadline:
                raise RuntimeError("dbus-monitor does not show the calls on the bus")
            with self.service.connection() as conn:
                conn.send_and_get_reply(new_method_call(BUS, "NameHasOwner", "s", (mark,)))
            time.sleep(0.05)

    def count(self, member: str) -> int:
        """Calls of `member` to the Secret Service since the watch began."""
        self._sync()
        pattern = re.compile(rf"destination={re.escape(SECRETS)} .*member={member}$")
        return sum(1 for line in list(self.lines) if pattern.search(line.rstrip()))

    def stop(self) -> None:
        self.monitor.terminate()
        self.monitor.wait(5)
