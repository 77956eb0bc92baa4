"""The command line's grammar (argparse), loaded for everything but `credproc --profile P`."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

from credproc import __version__
from credproc.errors import EXIT_CODES, UsageError


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(message, "see credproc --help")


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
    parser.add_argument("--version", action="version", version=f"credproc {__version__}")
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
    return parser


def parse(argv: list[str], env_formats: list[str]) -> SimpleNamespace:
    return SimpleNamespace(**vars(_parser(env_formats).parse_args(argv)))
