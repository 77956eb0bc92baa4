"""The commands other than the protocol's own answer (which is `cli.cmd_serve`): each turns
its arguments into calls of the modules that do the work, and prints the outcome.
Loaded with the argparse grammar: the protocol's own `credproc --profile P` never loads it."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace as Args
from typing import Any

from credproc.cache import Store
from credproc.entry import SESSION, Credentials
from credproc.errors import StoreError, UsageError
from credproc.protocol import utc_iso
from credproc.rules import CHAIN_ENV


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def cmd_login(args: Args) -> int:
    from credproc.obtain import obtain

    plan, creds = obtain(args.profile, renew=True)
    print(
        f"{args.profile}: credentials valid until {utc_iso(creds.expiration)} "
        f"({_minutes(creds.seconds_left())} from now)"
    )
    if plan.steps[0].kind == SESSION and len(plan.steps) > 1:
        session = Store.open().credentials(plan.steps[0].identity, SESSION)
        if session:
            print(
                f"{args.profile}: MFA session valid until {utc_iso(session.expiration)}; "
                "roles of this device are renewed without a code until then"
            )
    return 0


def _entries(store: Store) -> list[dict[str, Any]]:
    rows = []
    for name in store.names():
        found = store.read(name)
        if found is not None and found.credentials is not None:
            rows.append(
                {
                    "profile": found.profile,
                    "kind": found.kind,
                    "role": found.role_arn,
                    "mfa_serial": found.mfa_serial,
                    "expires": utc_iso(found.credentials.expiration),
                    "expires_in_seconds": int(found.credentials.seconds_left()),
                }
            )
    return rows


def cmd_status(args: Args) -> int:
    from credproc.vault_commands import status_line, status_rows

    rows = _entries(Store.open())
    try:  # the cached entries are shown even when the vault cannot be read now
        vault_rows, failure = status_rows(), None
    except StoreError as exc:
        vault_rows, failure = [], exc
    if args.json:
        import json

        print(json.dumps(rows + vault_rows, indent=2))
        return _shown(failure)
    if not rows:
        print("no cached credentials")
    for row in rows:
        left = row["expires_in_seconds"]
        state = f"expires in {_minutes(left)}" if left > 0 else "expired"
        print(f"{row['profile']:<24} {row['kind']:<8} {row['role'] or row['mfa_serial']}  {state}")
    for row in vault_rows:
        print(status_line(row))
    return _shown(failure)


def _shown(failure: StoreError | None) -> int:
    """After what could be shown, the vault's failure, if any, as the command's."""
    if failure is not None:
        raise failure
    return 0


def cmd_clear(args: Args) -> int:
    store = Store.open()
    if args.all:
        names = store.names()
        store.sweep(older_than=0)
    elif args.profile:
        from credproc.config import load
        from credproc.plan import build

        names = [step.identity for step in build(load(), args.profile).steps]
    else:
        raise UsageError("clear needs --profile P or --all", "say which entries to remove")
    removed = store.forget(names)
    print(f"removed {removed} cached entr{'y' if removed == 1 else 'ies'}")
    return 0


def credential_env(creds: Credentials) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_SESSION_TOKEN": creds.session_token,
        "AWS_CREDENTIAL_EXPIRATION": utc_iso(creds.expiration),
    }


def _quote_sh(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


ENV_FORMATS = {
    "sh": lambda k, v: f"export {k}={_quote_sh(v)}",
    "fish": lambda k, v: f"set -gx {k} {_quote_sh(v)}",
    "powershell": lambda k, v: f"$Env:{k} = '{v.replace(chr(39), chr(39) * 2)}'",
    "dotenv": lambda k, v: f"{k}={v}",
}
ENV_FORMAT_NAMES = [*ENV_FORMATS, "json"]


def cmd_env(args: Args) -> int:
    from credproc.obtain import credentials

    creds = credentials(args.profile)
    values = credential_env(creds)
    if args.format == "json":
        import json

        print(json.dumps(values))
    else:
        print("\n".join(ENV_FORMATS[args.format](k, v) for k, v in values.items()))
    return 0


def cmd_exec(args: Args) -> int:
    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if not command:
        raise UsageError("exec needs a command", "credproc exec --profile P -- COMMAND ARGS...")
    from credproc import cli

    if args.server:
        from credproc.server import run

        return run(args.profile, command, args.port or 0, cli.user_core_limit)
    if args.port is not None:
        raise UsageError("--port needs --server", "credproc exec --profile P --server --port N")
    from credproc.obtain import credentials

    creds = credentials(args.profile)
    dropped = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", CHAIN_ENV)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(credential_env(creds))
    if os.name == "nt":
        import subprocess

        return subprocess.run(command, env=env).returncode
    cli.core_dumps(cli.user_core_limit)  # the command is the user's, with the user's limits
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]}: {exc.strerror}", "check the command") from None


def cmd_check(args: Args) -> int:
    from credproc.check import explain
    from credproc.config import load

    lines, problems = explain(load(), args.profile)
    print("\n".join(lines))
    return 3 if problems else 0


def cmd_console(args: Args) -> int:
    from credproc.console import login_url

    url = login_url(args.profile, args.region or "", args.path or "")
    if args.print_url:  # asked for: the person takes the credential into their own hands
        print(url)
        return 0
    from credproc.handoff import open_in_browser

    open_in_browser(url)
    print(f"{args.profile}: the AWS console is open in your browser")
    return 0


def cmd_init(args: Args) -> int:
    from credproc import adopt
    from credproc.config import load

    if args.profile:
        raise UsageError("init takes the profile as its argument", "credproc init PROFILE")
    adoption = adopt.plan(load(), args.target, adopt.command)
    shown = adopt.run(adoption, write=args.write)
    sys.stdout.flush()  # the files' own bytes, undecodable ones too, as they are
    sys.stdout.buffer.write(shown.encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()
    if args.write:
        print(
            f"wrote {adoption.path}; check it with: credproc check --profile {adoption.new_profile}"
        )
    else:
        print(f"# to make this change: credproc init {args.target} --write")
    return 0


def cmd_completion(args: Args) -> int:
    from credproc import completion

    if args.complete:  # a TAB: the answer, or nothing; never an error in the person's shell
        shell, line = args.complete
        if shell in completion.SHELLS:
            from credproc.args import grammar

            found = completion.answer(grammar(ENV_FORMAT_NAMES), shell, line)
            print(found, end="\n" if found else "")
        return 0
    if not args.shell:
        shells = ", ".join(completion.SHELLS)
        raise UsageError(f"completion needs a shell: {shells}", "credproc completion bash")
    print(completion.script(args.shell), end="")
    return 0


def cmd_add(args: Args) -> int:
    from credproc.vault_commands import AddRequest, add

    source = "env" if args.from_env else "file" if args.from_file else "tty"
    print("\n".join(add(AddRequest(args.name, source, verify=not args.no_verify))))
    return 0


def cmd_remove(args: Args) -> int:
    from credproc.vault_commands import remove

    print("\n".join(remove(args.name, yes=args.yes)))
    return 0


def cmd_rotate(args: Args) -> int:
    from credproc.rotate import rotate

    print("\n".join(rotate(args.name)))
    return 0


COMMANDS = {
    "login": cmd_login,
    "status": cmd_status,
    "clear": cmd_clear,
    "env": cmd_env,
    "exec": cmd_exec,
    "check": cmd_check,
    "console": cmd_console,
    "init": cmd_init,
    "completion": cmd_completion,
    "add": cmd_add,
    "remove": cmd_remove,
    "rotate": cmd_rotate,
}
