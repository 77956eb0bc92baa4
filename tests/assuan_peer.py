"""A scripted pinentry for protocol edge cases: speaks Assuan on stdin/stdout and logs what
it was sent, as raw lines and with the parameters percent-decoded by its own decoder.

Usage: assuan_peer.py LOG MODE [PIN]
  ok       answer every command with OK; GETPIN answers PIN split over two D lines, with a
           status line, a comment and an INQUIRE in between (the client must answer END)
  cancel   GETPIN answers ERR 83886179 Operation cancelled <Pinentry>
  timeout  GETPIN answers ERR 83886142 Timeout <Pinentry>
  noscreen GETPIN answers ERR 83918950 Inappropriate ioctl for device <Pinentry>
  old      like ok, but SETTIMEOUT and OPTION are unknown commands (an older pinentry)
  die      exit in the middle of the conversation, at SETDESC
  mute     never greet
  silent   greet, then never answer
  hang     answer everything but GETPIN, which it never answers
  rawhang  like hang, but first put the terminal in raw mode (as curses does), never undone
  garbage  GETPIN answers a line that is not Assuan (with six digits in it)
  toolong  GETPIN answers a D line longer than Assuan's 1000 bytes
LOG gets one JSON object per line: {"raw": ..., "decoded": ...}; the first is {"env": [...]}.
"""

import json
import os
import sys
import time
import tty
import urllib.parse

log_path, mode = sys.argv[1], sys.argv[2]
pin = sys.argv[3] if len(sys.argv) > 3 else "123456"


def log(record: dict) -> None:
    with open(log_path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def escaped(data: str) -> str:
    return data.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def main() -> None:
    log({"env": sorted(os.environ)})
    if mode == "mute":
        time.sleep(60)
        return
    say("OK Pleased to meet you")
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        verb, _, params = line.partition(" ")
        log({"raw": line, "decoded": urllib.parse.unquote(params, errors="strict")})
        if mode == "silent":
            time.sleep(60)
            return
        if verb == "SETDESC" and mode == "die":
            os._exit(3)
        if verb in ("SETTIMEOUT", "OPTION") and mode == "old":
            say("ERR 536871187 Unknown IPC command <User defined source 1>")
        elif verb == "BYE":
            say("OK closing connection")
            return
        elif verb != "GETPIN":
            say("OK")
        elif mode in ("ok", "old"):
            half = len(pin) // 2
            say("D " + escaped(pin[:half]))
            say("S SOME_STATUS 1")
            say("# a comment")
            say("INQUIRE QUALITY")
            log({"inquire-answer": sys.stdin.readline().rstrip("\n")})
            say("D " + escaped(pin[half:]))
            say("OK")
        elif mode == "cancel":
            say("ERR 83886179 Operation cancelled <Pinentry>")
        elif mode == "timeout":
            say("ERR 83886142 Timeout <Pinentry>")
        elif mode == "noscreen":
            say("ERR 83918950 Inappropriate ioctl for device <Pinentry>")
        elif mode in ("hang", "rawhang"):
            if mode == "rawhang":
                tty.setraw(os.open("/dev/tty", os.O_RDWR))
            time.sleep(60)
            return
        elif mode == "garbage":
            say("HELLO 123456")
        elif mode == "toolong":
            say("D " + "1" * 2000)
            say("OK")


if __name__ == "__main__":
    main()
