"""An HTTP front for moto's STS server: records every call and injects the faults of real STS.
IAM calls pass through it too (AWS_ENDPOINT_URL_IAM), with IAM's own faults.

It forwards to moto, so credentials are real moto credentials; what it adds is what moto
lacks: TOTP rules (a rejected code, a reused code), throttling, 5xx, stalls, a skewed clock.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "


class Faults:
    def __init__(self) -> None:
        self.invalid_codes: set[str] = {"000000"}
        self.reject_reused = True
        self.throttle = 0  # answer the next N calls with Throttling
        self.server_errors = 0  # answer the next N calls with 500
        self.stall = 0.0  # seconds to wait before answering
        self.clock_offset = 0.0  # seconds added to the Date header of error replies
        self.deny = ""  # answer every call with this AccessDenied message
        self.lifetime: dict[str, int] = {}  # Action -> seconds the minted credentials last
        self.revoked_sessions = 0  # refuse the next N calls signed with temporary credentials
        self.refuse: dict[str, str] = {}  # Action -> the AccessDenied message for that call
        self.rejected_keys: set[str] = set()  # access key ids AWS does not know
        # calls signed by a key that CreateAccessKey just made, refused as AWS refuses them
        # while IAM spreads a new key to STS
        self.new_key_refusals = 0
        # Action -> what the test does to the world right after upstream answered that call
        self.after: dict[str, Callable[[], object]] = {}


class StsFront:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.calls: list[dict[str, str]] = []
        self.signers: list[str] = []  # the access key id that signed each call
        self.minted: list[dict[str, str]] = []  # Action and the credentials of each answer
        self.seconds: list[float] = []  # how long the front took to answer each call
        self.accepted: dict[tuple[str, str], float] = {}
        self.spreading: dict[str, int] = {}  # new key id -> calls still refused
        self.faults = Faults()
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                front.handle(self, body)

            def do_GET(self) -> None:
                query = urllib.parse.urlsplit(self.path).query.encode()
                front.handle(self, query)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.signers.clear()
            self.minted.clear()
            self.seconds.clear()
            self.accepted.clear()
            self.spreading.clear()
            self.faults = Faults()

    def actions(self) -> list[str]:
        return [call["Action"] for call in self.calls]

    def stop(self) -> None:
        self.server.shutdown()

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        ).encode()
        handler.send_response_only(status)  # send_response would add a second, true Date
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Date", formatdate(time.time() + self.faults.clock_offset, usegmt=True))
        handler.end_headers()
        handler.wfile.write(body)

    def _verdict(
        self, call: dict[str, str], temporary: bool, signer: str
    ) -> tuple[int, str, str] | None:
        """An error to answer with instead of forwarding, or None."""
        faults = self.faults
        unknown = (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
        if call.get("Action") in faults.refuse:
            return 403, "AccessDenied", faults.refuse[call["Action"]]
        if signer in faults.rejected_keys:
            return unknown
        if self.spreading.get(signer, 0) > 0:
            self.spreading[signer] -= 1
            return unknown
        if faults.throttle > 0:
            faults.throttle -= 1
            return 400, "Throttling", "Rate exceeded"
        if faults.server_errors > 0:
            faults.server_errors -= 1
            return 500, "InternalFailure", "An internal error occurred"
        if faults.deny:
            return 403, "AccessDenied", faults.deny
        if faults.revoked_sessions > 0 and temporary:
            faults.revoked_sessions -= 1
            return (
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            )
        code, serial = call.get("TokenCode"), call.get("SerialNumber", "")
        if code:
            used = self.accepted.get((serial, code))
            if code in faults.invalid_codes or (
                faults.reject_reused and used is not None and time.time() - used < 90
            ):
                return 403, "AccessDenied", INVALID_CODE
            self.accepted[(serial, code)] = time.time()
        return None

    def _record_minted(self, action: str, data: bytes) -> None:
        found = {
            field: re.search(rf"<{field}>([^<]*)</{field}>".encode(), data)
            for field in ("AccessKeyId", "SecretAccessKey", "SessionToken")
        }
        if all(found.values()):
            with self.lock:
                self.minted.append(
                    {"Action": action, **{k: m.group(1).decode() for k, m in found.items() if m}}
                )

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        started = time.perf_counter()
        try:
            self._answer(handler, body)
        finally:
            with self.lock:
                self.seconds.append(time.perf_counter() - started)

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        call = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        with self.lock:
            self.calls.append(call)
            auth = handler.headers.get("Authorization", "")
            signer = auth.partition("Credential=")[2].partition("/")[0]
            self.signers.append(signer)
            temporary = bool(handler.headers.get("X-Amz-Security-Token"))
            verdict = self._verdict(call, temporary, signer)
            stall = self.faults.stall
        if stall:
            time.sleep(stall)
        if verdict:
            self._error(handler, *verdict)
            return
        request = urllib.request.Request(
            self.upstream + handler.path,
            data=body if handler.command == "POST" else None,
            headers={k: v for k, v in handler.headers.items() if k.lower() != "host"},
            method=handler.command,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, headers, data = reply.status, reply.headers, reply.read()
        except urllib.error.HTTPError as exc:
            status, headers, data = exc.code, exc.headers, exc.read()
        made = re.search(rb"<AccessKeyId>(AKIA\w+)</AccessKeyId>", data)
        if call.get("Action") == "CreateAccessKey" and made and self.faults.new_key_refusals:
            with self.lock:
                self.spreading[made.group(1).decode()] = self.faults.new_key_refusals
        lifetime = self.faults.lifetime.get(call.get("Action", ""))
        if lifetime is not None and status == 200:
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
            data = re.sub(
                rb"<Expiration>[^<]*</Expiration>",
                f"<Expiration>{expires}</Expiration>".encode(),
                data,
            )
        if status == 200:
            self._record_minted(call.get("Action", ""), data)
        then = self.faults.after.get(call.get("Action", ""))
        if then is not None:
            then()
        handler.send_response(status)
        handler.send_header("Content-Type", headers.get("Content-Type", "text/xml"))
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


if __name__ == "__main__":  # a front for manual runs: python tests/sts_front.py UPSTREAM
    import sys

    front = StsFront(sys.argv[1])
    print(json.dumps({"url": front.url}), flush=True)
    front.thread.join()
