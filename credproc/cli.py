"""The entry point: the command line, the protocol's own answer, and the one place errors
become exit codes.

The bare `credproc --profile P` is the credential_process protocol; its cache hit imports
neither botocore nor the prompt code, nor the other commands (`commands.py`).
"""

from __future__ import annotations

import gc
import os
import sys
from types import SimpleNamespace as Args

from credproc import log
from credproc.errors import CredprocError, MfaCancelled, UsageError
from credproc.protocol import process_output

# the soft core file limit credproc was started with, for the command `exec` runs
user_core_limit: int | None = None


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


NEEDS_PROFILE = (None, "login", "env", "exec", "check", "console")


def _parse(argv: list[str] | None) -> Args:
    argv = sys.argv[1:] if argv is None else argv
    # the protocol's own command line, read without argparse: its import and the parser
    # cost about 7 ms of a 40 ms cache hit
    if len(argv) == 2 and argv[0] == "--profile" and argv[1][:1] not in ("", "-"):
        return Args(command=None, profile=argv[1])
    from credproc.args import parse
    from credproc.commands import ENV_FORMAT_NAMES

    args = parse(argv, env_formats=ENV_FORMAT_NAMES)
    args.profile = getattr(args, "profile", None)
    if args.command in NEEDS_PROFILE and not args.profile:
        raise UsageError("--profile is required", "credproc --profile NAME")
    if getattr(args, "verbose", False):
        log.set_level("debug")
    return args


def core_dumps(soft: int | None) -> int | None:
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
    limit = core_dumps(0)  # decrypted credentials live in this process: no core files
    if user_core_limit is None:  # the first call's, when main runs more than once
        user_core_limit = limit
    log.set_level(os.environ.get("CREDPROC_LOG_LEVEL", ""))
    try:
        args = _parse(argv)
        if args.command is None:
            return cmd_serve(args)
        from credproc.commands import COMMANDS

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
