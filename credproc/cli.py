"""The commands, and the one place errors become exit codes.

The bare `credproc --profile P` is the credential_process protocol; its cache hit imports
neither botocore nor the prompt code.
"""

from __future__ import annotations

import gc
import os
import sys
from types import SimpleNamespace as Args
from typing import Any

from credproc import log
from credproc.cache import Store
from credproc.entry import SESSION, Credentials
from credproc.errors import CredprocError, MfaCancelled, StoreError, UsageError
from credproc.protocol import process_output, utc_iso
from credproc.rules import CHAIN_ENV

# the soft core file limit credproc was started with, for the command `exec` runs
user_core_limit: int | None = None


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def cmd_serve(args: Args) -> int:
    # One answer, then the process ends: the cyclic collector would only walk, again and
    # again, the objects a miss makes by the hundred thousand (botocore, its models), for
    # 6 % of a miss's instructions and no garbage to speak of.
    gc.disable()
    from credproc.obtain import credentials

    creds = credentials(args.profile)
    sys.stdout.write(process_output(creds) + "\n")
    sys.stdout.flush()
    return 0


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
    removed = sum(store.remove(name) for name in names)
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
    if args.server:
        from credproc.server import run

        return run(args.profile, command, args.port or 0, user_core_limit)
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
    _core_dumps(user_core_limit)  # the command is the user's, with the user's limits
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
    None: cmd_serve,
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
NEEDS_PROFILE = (None, "login", "env", "exec", "check", "console")


def _parse(argv: list[str] | None) -> Args:
    argv = sys.argv[1:] if argv is None else argv
    # the protocol's own command line, read without argparse: its import and the parser
    # cost about 7 ms of a 40 ms cache hit
    if len(argv) == 2 and argv[0] == "--profile" and argv[1][:1] not in ("", "-"):
        return Args(command=None, profile=argv[1])
    from credproc.args import parse

    args = parse(argv, env_formats=ENV_FORMAT_NAMES)
    args.profile = getattr(args, "profile", None)
    if args.command in NEEDS_PROFILE and not args.profile:
        raise UsageError("--profile is required", "credproc --profile NAME")
    if getattr(args, "verbose", False):
        log.set_level("debug")
    return args


def _core_dumps(soft: int | None) -> int | None:
    """Set the soft limit of core file size (the hard one stays, so it can be restored);
    returns the previous soft limit, None where there are no such limits."""
    try:
        import resource

        before, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if soft is not None:
            resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
        return before
    except (ImportError, ValueError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    global user_core_limit
    limit = _core_dumps(0)  # decrypted credentials live in this process: no core files
    if user_core_limit is None:  # the first call's, when main runs more than once
        user_core_limit = limit
    log.set_level(os.environ.get("CREDPROC_LOG_LEVEL", ""))
    try:
        args = _parse(argv)
        return COMMANDS[args.command](args)
    except CredprocError as exc:
        print(exc.line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(MfaCancelled("cancelled", "run again to retry").line(), file=sys.stderr)
        return MfaCancelled.exit_code
    except BrokenPipeError:  # the caller stopped listening; what was minted is cached
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: one line, the traceback only under -v
        bug = CredprocError(
            f"internal error: {type(exc).__name__}", "please report it; run with -v for detail"
        )
        print(bug.line(), file=sys.stderr)
        if log.level == "debug":
            import traceback

            traceback.print_exc()
        return 1
