"""A loopback stand-in for AWS's console federation endpoint (signin.aws.amazon.com/federation).

`getSigninToken` takes the Session JSON only when it is role credentials the STS front saw
moto mint for AssumeRole (an MFA session's, or anything else, is refused with 400, as AWS
does), and answers a fresh SigninToken; `login` answers 200 for a token it issued."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.sts_front import StsFront


class Federation:
    def __init__(self, sts: StsFront) -> None:
        self.sts = sts
        self.sessions: list[dict[str, str]] = []  # every Session JSON received
        self.tokens: list[str] = []  # the SigninTokens issued
        self.logins: list[dict[str, str]] = []  # the query of every login with a known token
        self.status = 200  # a fault: answer getSigninToken with this status
        self.body = ""  # a fault: answer getSigninToken with this body instead
        federation = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path != "/federation":
                    self.reply(404, "{}")
                elif query.get("Action") == "getSigninToken":
                    self.reply(*federation.signin_token(query))
                elif (
                    query.get("Action") == "login" and query.get("SigninToken") in federation.tokens
                ):
                    federation.logins.append(query)
                    self.reply(200, '{"signed in": true}')
                else:
                    self.reply(400, '{"error": "bad request"}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/federation"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def role_credentials(self) -> list[dict[str, str]]:
        """What moto minted for AssumeRole, as a Session JSON would hold it."""
        return [
            {
                "sessionId": m["AccessKeyId"],
                "sessionKey": m["SecretAccessKey"],
                "sessionToken": m["SessionToken"],
            }
            for m in self.sts.minted
            if m["Action"] == "AssumeRole"
        ]

    def signin_token(self, query: dict[str, str]) -> tuple[int, str]:
        try:
            session = json.loads(query.get("Session", ""))
        except ValueError:
            return 400, '{"error": "Session is not JSON"}'
        self.sessions.append(session)
        if self.status != 200 or self.body:
            return self.status, self.body or "{}"
        if session not in self.role_credentials():
            return 400, '{"error": "Invalid Credentials Parameter"}'
        token = secrets.token_urlsafe(48)
        self.tokens.append(token)
        return 200, json.dumps({"SigninToken": token})

    def stop(self) -> None:
        self.server.shutdown()
