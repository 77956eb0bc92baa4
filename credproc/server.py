"""`credproc exec --server`: the ECS container credentials endpoint on 127.0.0.1 for one
command and its children. The checks come first, as a table (method, Origin, Host, token);
then the answer, from obtain.credentials(): the same cache, locks and prompt rules as
`credproc --profile P`. The token lives only in the command's environment, never in argv, a
log line or -v output.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from credproc import log, rules, supervise
from credproc.config import AwsConfig, load
from credproc.entry import Credentials
from credproc.errors import CredprocError, MfaUnavailable, UsageError
from credproc.obtain import credentials
from credproc.plan import CHAIN_ENV, profile_region
from credproc.protocol import utc_iso

HOST = "127.0.0.1"
TOKEN_BYTES = 32
URI_ENV, TOKEN_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"
# Removed from the command's environment: what SDKs' default chains would take before the
# server (keys, a profile, web identity), or what would point them at another endpoint
DROPPED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",  # wins over the full URI in SDKs
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",  # wins over the token variable
    CHAIN_ENV,
)
# keys of [default] with which SDKs (botocore, the AWS CLI, JavaScript v3) find credentials in
# the files before they ask the container endpoint, when no profile is named
SHADOWING_KEYS = (
    "aws_access_key_id",
    "credential_process",
    "role_arn",
    "sso_session",
    "sso_start_url",
    "web_identity_token_file",
    "login_session",
)


class _Handler(BaseHTTPRequestHandler):
    server: CredentialServer
    timeout = 10  # seconds a client may take to send its request: no thread is held longer
    server_version, sys_version = "credproc", ""

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every method reaches the checks, which refuse all but GET
            return self._answer
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line and headers are the client's: only our own lines are logged

    def _answer(self) -> None:
        for refused, status, code, message in REFUSALS:
            if refused(self):
                log.debug(f"server: refused a request: {message}")
                self._send(status, {"code": code, "message": message})
                return
        status, body = self.server.credentials()
        self._send(status, body)

    def _send(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if status == 405:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _one(handler: _Handler, name: str) -> str | None:
    """The header's value when it is sent exactly once, else None."""
    values = handler.headers.get_all(name) or []
    return values[0] if len(values) == 1 else None


def _wrong_method(handler: _Handler) -> bool:
    return handler.command != "GET"


def _from_a_web_page(handler: _Handler) -> bool:
    return handler.headers.get("Origin") is not None


def _foreign_host(handler: _Handler) -> bool:
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 sends its
    # own name as Host
    return (_one(handler, "Host") or "").lower() not in handler.server.hosts


def _no_token(handler: _Handler) -> bool:
    return not handler.headers.get_all("Authorization")


def _wrong_token(handler: _Handler) -> bool:
    sent = (_one(handler, "Authorization") or "").encode("utf-8", "surrogateescape")
    return not hmac.compare_digest(sent, handler.server.token.encode())


REFUSALS: tuple[tuple[Callable[[_Handler], bool], int, str, str], ...] = (
    (_wrong_method, 405, "MethodNotAllowed", "only GET is served"),
    (_from_a_web_page, 403, "Forbidden", "requests from web pages (with Origin) are refused"),
    (_foreign_host, 403, "Forbidden", "Host must be 127.0.0.1:PORT or localhost:PORT"),
    (_no_token, 401, "Unauthorized", f"Authorization must carry {TOKEN_ENV}"),
    (_wrong_token, 403, "Forbidden", f"Authorization does not carry {TOKEN_ENV}"),
)


def container_answer(creds: Credentials) -> dict[str, str]:
    """The ECS container credentials answer."""
    answer = {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "Token": creds.session_token,
        "Expiration": utc_iso(creds.expiration),
    }
    if creds.account_id:
        answer["AccountId"] = creds.account_id
    return answer


def servable(profile: str, creds: Credentials) -> Credentials:
    """`creds`, when they have more than CONTAINER_SECONDS left (SDKs would refresh at once)."""
    left = creds.seconds_left()
    if left <= rules.CONTAINER_SECONDS:
        raise MfaUnavailable(
            f"the credentials of profile {profile} have only {max(0, left) / 60:.0f} min left "
            f"and the server hands out only credentials with more than "
            f"{rules.CONTAINER_SECONDS // 60} min left",
            f"run `credproc login --profile {profile}` in a terminal",
        )
    return creds


class CredentialServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 50 SDKs at once must not wait for a dropped SYN's retry
    allow_reuse_address = os.name != "nt"  # Windows would let another program take the port

    def __init__(self, profile: str, port: int) -> None:
        super().__init__((HOST, port), _Handler)
        self.profile = profile
        self.token = secrets.token_urlsafe(TOKEN_BYTES)
        self.port: int = self.server_address[1]
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        # one obtain() at a time: sources.load swaps os.environ around botocore's providers,
        # and a renewal must happen once, not once per waiting request
        self.obtaining = threading.Lock()
        self.attempts = 0  # obtain() calls ended, under `obtaining`
        self.failed: CredprocError | None = None  # how the last one ended, if it failed

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # HTTPServer's would look the name up in DNS
        self.server_name, self.server_port = HOST, self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # e.g. a client that gave up waiting for a prompt and left before its answer: one line
        # under -v, where socketserver would print a traceback on the person's terminal
        log.debug(f"server: a request failed: {type(sys.exc_info()[1]).__name__}")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def credentials(self) -> tuple[int, dict[str, str]]:
        """200 and the credentials, or 503 and what credproc would say; never a secret."""
        before = self.attempts
        try:
            with self.obtaining:
                failed = self.failed
                if self.attempts != before and failed is not None:
                    # it failed while this request waited (a prompt unanswered, STS down):
                    # its answer, not one more prompt per queued request
                    raise type(failed)(failed.what, failed.fix)
                self.failed = None
                try:
                    creds = servable(self.profile, credentials(self.profile))
                except CredprocError as exc:
                    self.failed = exc
                    raise
                finally:
                    self.attempts += 1
        except CredprocError as exc:
            log.debug(f"server: 503: {exc.message()}")
            return 503, {"code": type(exc).__name__, "message": exc.message()}
        except Exception as exc:  # a bug: the server goes on, the client hears of it
            log.alert(f"server: internal error: {type(exc).__name__}")
            return 500, {"code": "InternalError", "message": f"credproc: {type(exc).__name__}"}
        log.debug(f"server: 200: credentials with {creds.seconds_left() / 60:.0f} min left")
        return 200, container_answer(creds)


def _listen(profile: str, port: int) -> CredentialServer:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", "give 1 to 65535, or leave it out")
    try:
        return CredentialServer(profile, port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {HOST}:{port}: {exc.strerror}",
            "choose another --port, or leave it out for a free one",
        ) from None


def command_environment(
    environ: dict[str, str], server: CredentialServer, region: str
) -> dict[str, str]:
    """CMD's environment: the server's two variables in, what would shadow them out."""
    env = {k: v for k, v in environ.items() if k not in DROPPED}
    env[URI_ENV], env[TOKEN_ENV] = server.url, server.token
    if region and not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
    return env


def warn_if_shadowed(config: AwsConfig, command: str) -> None:
    """SDKs that are named no profile use [default]'s own credentials before the server."""
    default = config.profiles.get("default")
    found = [key for key in SHADOWING_KEYS if default and default.get(key)]
    if found:
        log.alert(
            f"profile default has its own credentials ({', '.join(found)}), which SDKs in "
            f"{os.path.basename(command)} use before the server (move them to a named profile)"
        )


def run(profile: str, command: list[str], port: int, core_limit: int | None) -> int:
    """exec --server: listen, obtain (a code is asked before CMD takes the terminal), run CMD
    with the server, and end with it; CMD's exit status."""
    supervise.check_runnable(command, dict(os.environ))
    server = _listen(profile, port)
    try:
        servable(profile, credentials(profile))
        from credproc import resolve, sts  # noqa: F401  (now: a renewal then costs only STS)

        config = load()
        env = command_environment(dict(os.environ), server, profile_region(config, profile))
        warn_if_shadowed(config, command[0])
        log.debug(f"server: listening on {server.url} for {profile}")
        supervise.hold()  # before CMD and the server's threads: both inherit it
        child = supervise.start(command, env, core_limit)
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
        returncode = supervise.wait(child)
        server.shutdown()
    finally:
        server.server_close()
    return supervise.exit_like(returncode)
