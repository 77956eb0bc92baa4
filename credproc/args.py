"""The command line's grammar (argparse), loaded for everything but `credproc --profile P`."""

from __future__ import annotations

import argparse
import functools
import re
from types import SimpleNamespace
from typing import Any

from credproc import __version__
from credproc.errors import EXIT_CODES, UsageError


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        # what was typed is never echoed: someone may have put keys there
        # (`credproc add P AKIA... SECRET`, `credproc AKIA...`, `--from-env=SECRET`)
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not shown here, in case one is a secret)"
        message = _TYPED.sub(r"\1 (not shown here, in case it is a secret)", message)
        message = _AMBIGUOUS.sub(
            r"\1 (its value not shown here, in case it is a secret) could", message
        )
        raise UsageError(message, "see credproc --help")


# argparse quotes a value with repr(): in '...', or in "..." when it holds a '
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_TYPED = re.compile(
    rf"(invalid choice|invalid \w+ value|ignored explicit argument):? (?:{_QUOTED})"
)
_AMBIGUOUS = re.compile(r"(ambiguous option: --[^=\s]+)=.*? could", re.DOTALL)


def version() -> str:
    """credproc's version and those of the packages it runs on, as installed beside it (in
    credproc.pyz: inside the file)."""
    from importlib import metadata

    inside = []
    for package in ("botocore", "cryptography"):
        try:
            inside.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            inside.append(f"{package} missing")
    return f"credproc {__version__} ({', '.join(inside)})"


class _Version(argparse.Action):
    """--version, whose answer (importlib.metadata) is looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version())
        parser.exit()


def _parser(env_formats: list[str]) -> argparse.ArgumentParser:
    common = _ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="explain what happens on stderr (never secrets)",
    )
    common.add_argument("--profile", default=argparse.SUPPRESS, help="the profile to resolve")
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = _ArgumentParser(
        prog="credproc",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="AWS credential_process helper for MFA-protected roles.",
        epilog=f"credential_process = credproc --profile NAME\n\nexit codes:\n{codes}",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    sub.add_parser(
        "login", parents=[common], help="get or renew credentials now, asking for a code"
    )
    status = sub.add_parser("status", parents=[common], help="list cached credentials")
    status.add_argument("--json", action="store_true")
    clear = sub.add_parser("clear", parents=[common], help="remove cached credentials")
    clear.add_argument("--all", action="store_true")
    env = sub.add_parser("env", parents=[common], help="print credentials as environment variables")
    env.add_argument("--format", choices=env_formats, default="sh")
    run = sub.add_parser("exec", parents=[common], help="run a command with the credentials")
    run.add_argument(
        "--server", action="store_true", help="serve renewing credentials to CMD on 127.0.0.1"
    )
    run.add_argument("--port", type=int, help="with --server: the port (default: a free one)")
    run.add_argument("command_line", nargs=argparse.REMAINDER)
    sub.add_parser("check", parents=[common], help="explain a profile's chain and its problems")
    console = sub.add_parser(
        "console", parents=[common], help="open the AWS console, signed in as the profile's role"
    )
    console.add_argument(
        "--print", dest="print_url", action="store_true", help="print the sign-in URL instead"
    )
    console.add_argument("--region", help="the console's region (default: the profile's)")
    console.add_argument("--path", help="the console page, e.g. s3/home")
    init = sub.add_parser(
        "init", parents=[common], help="adopt a role profile: move its role to PROFILE-mfa"
    )
    init.add_argument("target", metavar="PROFILE", help="the profile SDKs use, e.g. prod")
    init.add_argument("--write", action="store_true", help="make the change (default: show it)")
    _completion_parser(sub)
    _vault_commands(sub, common)
    return parser


def _completion_parser(sub: Any) -> None:
    from credproc.completion import SHELLS

    completion = sub.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)"
    )
    completion.add_argument("shell", nargs="?", choices=SHELLS)
    # what the scripts call at each TAB: the shell and the command line up to the cursor
    completion.add_argument(
        "--complete", nargs=2, metavar=("SHELL", "LINE"), help=argparse.SUPPRESS
    )


def grammar(env_formats: list[str]) -> argparse.ArgumentParser:
    """The whole command line grammar, which completion reads too: built once a process, since
    building it costs more than parsing (argparse looks up translations for every help)."""
    return _grammar(tuple(env_formats))


@functools.lru_cache(maxsize=1)
def _grammar(env_formats: tuple[str, ...]) -> argparse.ArgumentParser:
    return _parser(list(env_formats))


def _vault_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = sub.add_parser(
        "add", parents=[common], help="put a profile's long-term keys in the vault (typed)"
    )
    add.add_argument("name", metavar="PROFILE")
    given = add.add_mutually_exclusive_group()
    given.add_argument(
        "--from-env", action="store_true", help="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    given.add_argument(
        "--from-file", action="store_true", help="move them out of the AWS credentials file"
    )
    add.add_argument("--no-verify", action="store_true", help="store without asking STS (offline)")
    remove = sub.add_parser(
        "remove", parents=[common], help="forget a profile's vault keys and what they minted"
    )
    remove.add_argument("name", metavar="PROFILE")
    remove.add_argument("--yes", action="store_true", help="do not ask first")
    rotate = sub.add_parser(
        "rotate", parents=[common], help="replace a profile's vault keys with a new IAM key"
    )
    rotate.add_argument("name", metavar="PROFILE")


def parse(argv: list[str], env_formats: list[str]) -> SimpleNamespace:
    return SimpleNamespace(**vars(grammar(env_formats).parse_args(argv)))
