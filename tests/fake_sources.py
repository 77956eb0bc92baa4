"""Loopback stand-ins for the credential sources botocore fetches over HTTP: the SSO portal,
the ECS container endpoint and EC2's instance metadata service (IMDSv2)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SSO_KEY = "ASIAQQQQSSOSOURCE001"
ECS_KEY = "ASIAQQQQECSSOURCE001"
IMDS_KEY = "ASIAQQQQIMDSSOURCE01"
TOKEN = "sso-access-token-for-tests"


def _iso(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


class FakeSources:
    def __init__(self) -> None:
        self.requests: list[str] = []
        sources = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                sources.requests.append("PUT " + self.path)
                self.reply(200, "imds-token", "text/plain")  # /latest/api/token

            def do_GET(self) -> None:
                sources.requests.append("GET " + self.path)
                path = self.path.split("?")[0]
                if path == "/federation/credentials":
                    if self.headers.get("x-amz-sso_bearer_token") != TOKEN:
                        self.reply(401, '{"message": "Session token not found or invalid"}')
                        return
                    creds = {
                        "accessKeyId": SSO_KEY,
                        "secretAccessKey": "sso-secret",
                        "sessionToken": "sso-token",
                        "expiration": int(time.time() + 3600) * 1000,
                    }
                    self.reply(200, json.dumps({"roleCredentials": creds}))
                elif path == "/ecs-credentials":
                    self.reply(
                        200,
                        json.dumps(
                            {
                                "AccessKeyId": ECS_KEY,
                                "SecretAccessKey": "ecs-secret",
                                "Token": "ecs-token",
                                "Expiration": _iso(3600),
                            }
                        ),
                    )
                elif path == "/latest/meta-data/iam/security-credentials/":
                    self.reply(200, "instance-role", "text/plain")
                elif path == "/latest/meta-data/iam/security-credentials/instance-role":
                    self.reply(
                        200,
                        json.dumps(
                            {
                                "Code": "Success",
                                "Type": "AWS-HMAC",
                                "AccessKeyId": IMDS_KEY,
                                "SecretAccessKey": "imds-secret",
                                "Token": "imds-token",
                                "Expiration": _iso(3600),
                                "LastUpdated": _iso(0),
                            }
                        ),
                    )
                else:
                    self.reply(404, "{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
