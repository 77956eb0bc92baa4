"""A web browser for tests (run through BROWSER): it appends how it was started (argv, the
environment) to $BROWSER_RECORD, then fetches the URL it was given, following redirects as
a browser does, and records the final status. With $BROWSER_FOREIGN_UID, a process of that
user fetches the URL first (as another user who read it off the command line would)."""

from __future__ import annotations

import encodings.idna  # noqa: F401  (loaded before the switch to a user who cannot read it)
import json
import os
import sys
import urllib.error
import urllib.request


def fetch(url: str) -> int | str:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        return type(exc).__name__


def fetch_as(uid: int, url: str) -> int | str:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            os.setgid(uid)
            os.setuid(uid)
            got: int | str = fetch(url)
        except BaseException as exc:  # the test sees what went wrong
            got = repr(exc)
        os.write(write, json.dumps(got).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        got = json.loads(answer.read())
    os.waitpid(child, 0)
    return got


def main() -> int:
    url = sys.argv[-1]
    record: dict[str, object] = {"argv": sys.argv, "env": dict(os.environ)}
    foreign = os.environ.get("BROWSER_FOREIGN_UID")
    if foreign:
        record["foreign"] = fetch_as(int(foreign), url)
    record["status"] = fetch(url)
    with open(os.environ["BROWSER_RECORD"], "a") as out:
        out.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
