"""Loopback stand-ins for the credential sources botocore fetches over HTTP: the SSO portal,
the ECS container endpoint, EC2's instance metadata service (IMDSv2) and AWS Sign-In's token
endpoint, which turns an `aws login` refresh token into credentials."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SSO_KEY = "ASIAQQQQSSOSOURCE001"
ECS_KEY = "ASIAQQQQECSSOURCE001"
IMDS_KEY = "ASIAQQQQIMDSSOURCE01"
TOKEN = "sso-access-token-for-tests"
LOGIN_KEY = "ASIAQQQQLOGINREFRESH"  # what the sign-in stand-in hands out for a refresh token
LOGIN_SECRET = "login/refreshed/SECRET/QQQQQQQQQQQQQQQQQQQQ"
LOGIN_SESSION_TOKEN = "login-refreshed-session-token-QQQQ"
LOGIN_ROTATED = "login-rotated-refresh-token-QQQQ"  # the refresh token that replaces the old one
EXPIRED = "TOKEN_EXPIRED"


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def dpop_claims(proof: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims of a DPoP proof (RFC 9449) whose ES256 signature `key` made and whose header
    carries `key` as its JWK; ValueError for anything else."""
    head, body, signature = proof.split(".")
    header = json.loads(_b64url(head))
    numbers = key.public_numbers()
    jwk = {"x": numbers.x.to_bytes(32, "big"), "y": numbers.y.to_bytes(32, "big")}
    if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
        raise ValueError("not an ES256 DPoP proof")
    if {k: _b64url(header["jwk"][k]) for k in ("x", "y")} != jwk:
        raise ValueError("signed with another key than the token cache's")
    raw = _b64url(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("bad signature") from None
    return dict(json.loads(_b64url(body)))


class SignIn:
    """What the sign-in stand-in knows: the refresh tokens it takes, each with the DPoP key
    bound to it, and those it answers with TOKEN_EXPIRED."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self.expired: set[str] = set()
        self.proofs: list[dict[str, Any]] = []  # the claims of every proof it accepted

    def answer(self, path: str, body: dict[str, Any], proof: str) -> tuple[int, dict[str, Any]]:
        token = body.get("refreshToken", "")
        if body.get("grantType") != "refresh_token" or not body.get("clientId"):
            return 400, {"error": "INVALID_REQUEST", "message": "not a refresh"}
        if token in self.expired:
            return 400, {"error": EXPIRED, "message": "Your session has expired"}
        if token not in self.keys:
            return 400, {"error": "INVALID_REQUEST", "message": "unknown refresh token"}
        try:
            claims = dpop_claims(proof, self.keys[token])
        except (ValueError, KeyError) as exc:
            return 400, {"error": "INVALID_REQUEST", "message": f"DPoP: {exc}"}
        if claims.get("htm") != "POST" or not str(claims.get("htu", "")).endswith(path):
            return 400, {"error": "INVALID_REQUEST", "message": "DPoP for another request"}
        self.proofs.append(claims)
        credentials = {
            "accessKeyId": LOGIN_KEY,
            "secretAccessKey": LOGIN_SECRET,
            "sessionToken": LOGIN_SESSION_TOKEN,
        }
        reply = {"accessToken": credentials, "tokenType": "aws_sigv4", "expiresIn": 900}
        return 200, {**reply, "refreshToken": LOGIN_ROTATED}


def _iso(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


class FakeSources:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.signin = SignIn()
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

            def do_POST(self) -> None:
                sources.requests.append("POST " + self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/token":
                    self.reply(404, "{}")
                    return
                status, answer = sources.signin.answer(
                    self.path, body, self.headers.get("DPoP", "")
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                if status != 200:  # how a rest-json service names its error
                    denied = answer["error"] == EXPIRED
                    kind = "AccessDeniedException" if denied else "ValidationException"
                    self.send_header("x-amzn-ErrorType", kind)
                self.send_header("Content-Type", "application/json")
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
