"""`credproc console`: a federation sign-in for the profile's role, from a real local
federation endpoint that checks the credentials moto minted, opened by a recording browser."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from credproc import console, handoff
from credproc.entry import ROLE
from credproc.errors import ConfigError, UsageError
from tests.conftest import (
    BASE_KEY_ID,
    BASE_SECRET,
    COUNTING,
    DEVICE,
    PROD_MFA,
    PYTHON,
    ROOT,
    World,
    section,
)
from tests.fake_federation import Federation

NOBODY = 65534


@pytest.fixture
def federation(world: World) -> Iterator[Federation]:
    endpoint = Federation(world.sts)
    world.env["CREDPROC_SIGNIN_URL"] = endpoint.url
    yield endpoint
    endpoint.stop()


def browser(world: World) -> tuple[str, Path]:
    """A BROWSER program (one executable, as webbrowser wants it) and its record file."""
    program = world.root / "browser"
    program.write_text(f'#!/bin/sh\nexec {PYTHON} {ROOT / "tests" / "browser_recorder.py"} "$@"\n')
    program.chmod(0o755)
    return str(program), world.root / "browser.jsonl"


def opened(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def refused_connection(url: str) -> bool:
    split = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((split.hostname, split.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def secrets_of(world: World, federation: Federation) -> set[str]:
    """Every credential minted in this world, the sign-in tokens, and the long-term keys."""
    found = {BASE_KEY_ID, BASE_SECRET, *federation.tokens}
    for minted in world.sts.minted:
        found |= {minted["AccessKeyId"], minted["SecretAccessKey"], minted["SessionToken"]}
    return found


def files_written(world: World) -> dict[str, bytes]:
    written = {}
    for folder in (world.cache_dir, world.key_file.parent):
        for path in folder.iterdir():
            if path != world.key_file:
                written[str(path)] = path.read_bytes()
    return written


def test_console_opens_the_browser_signed_in_as_the_role_through_a_one_time_link(
    world: World, federation: Federation
) -> None:
    world.standard_config()
    program, record = browser(world)
    env = {"BROWSER": program, "BROWSER_RECORD": str(record), "AWS_SECRET_ACCESS_KEY": "env-sk"}
    done = world.run("console", "--profile", "prod-mfa", "-v", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "prod-mfa: the AWS console is open in your browser\n"
    assert world.prompts() == 1 and world.sts.actions() == ["GetSessionToken", "AssumeRole"]

    # the federation endpoint got the role credentials that moto minted and credproc cached
    (session,) = federation.sessions
    assert session in federation.role_credentials()
    role = next(record for _, record in world.entries() if record and record.kind == ROLE)
    assert role.credentials is not None
    assert session == dict(zip(("sessionId", "sessionKey", "sessionToken"), role.credentials))
    # the browser followed the one-time link to the login with that token, and signed in
    (started,) = opened(record)
    (link,) = started["argv"][1:]
    assert link.startswith("http://127.0.0.1:") and started["status"] == 200
    (login,) = federation.logins
    assert login["SigninToken"] == federation.tokens[0] and login["Issuer"] == "credproc"
    assert login["Destination"] == "https://console.aws.amazon.com/console/home?region=us-east-1"
    assert refused_connection(link)  # the link is dead: its port is closed
    assert "AWS_SECRET_ACCESS_KEY" not in started["env"]  # nor AWS keys in the browser's env

    secrets = secrets_of(world, federation)
    written = {"stdout": done.stdout.encode(), "stderr -v": done.stderr.encode()}
    written["browser argv"] = json.dumps(started["argv"]).encode()
    written.update(files_written(world))
    leaks = [(where, s) for where, data in written.items() for s in secrets if s.encode() in data]
    assert leaks == []
    assert "getSigninToken for prod-mfa" in done.stderr  # -v says what happens, not the URL


def test_a_cached_role_signs_in_without_a_code_or_an_sts_call(
    primed: World, federation: Federation
) -> None:
    world = primed
    world.sts.minted.extend(world_minted_role(world))  # what the first use got from moto
    done = world.run("console", "--profile", "prod-mfa", "--print")
    assert done.returncode == 0, done.stderr
    assert world.prompts() == 1 and world.sts.calls == []
    assert federation.tokens and federation.tokens[0] in done.stdout


def world_minted_role(world: World) -> list[dict[str, str]]:
    role = next(record for _, record in world.entries() if record and record.kind == ROLE)
    assert role.credentials is not None
    keys = ("AccessKeyId", "SecretAccessKey", "SessionToken")
    return [{"Action": "AssumeRole", **dict(zip(keys, role.credentials[:3]))}]


def test_print_writes_only_the_url_for_the_region_and_path_asked(
    world: World, federation: Federation
) -> None:
    world.standard_config()
    program, record = browser(world)
    done = world.run(
        "console",
        "--profile",
        "prod-mfa",
        "--print",
        "--region",
        "eu-west-2",
        "--path",
        "/vpc/home#RouteTables:",
        env={"BROWSER": program, "BROWSER_RECORD": str(record)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and not record.exists()  # no browser was started
    (line,) = done.stdout.splitlines()
    url = urllib.parse.urlsplit(line)
    assert f"{url.scheme}://{url.netloc}{url.path}" == federation.url
    query = dict(urllib.parse.parse_qsl(url.query))
    assert query["Action"] == "login" and query["SigninToken"] == federation.tokens[0]
    assert query["Destination"] == (
        "https://console.aws.amazon.com/vpc/home?region=eu-west-2#RouteTables:"
    )
    with urllib.request.urlopen(line, timeout=10) as reply:  # the URL signs in
        assert reply.status == 200 and federation.logins


def test_the_sdk_profile_that_runs_credproc_signs_in_as_its_role(
    world: World, federation: Federation
) -> None:
    world.config(
        section("base", region="us-east-1", credproc_mfa_process=COUNTING),
        section("prod-mfa", **PROD_MFA),
        section("prod", credential_process="{credproc} --profile prod-mfa", region="eu-west-1"),
    )
    done = world.run("console", "--profile", "prod", "--print", "-v")
    assert done.returncode == 0, done.stderr
    assert "profile prod runs credproc --profile prod-mfa" in done.stderr
    assert federation.sessions == federation.role_credentials() and federation.tokens
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(done.stdout.strip()).query))
    # the region SDKs use with prod (init leaves it there), not base's up prod-mfa's chain
    assert query["Destination"] == "https://console.aws.amazon.com/console/home?region=eu-west-1"


def test_an_mfa_session_profile_is_refused_saying_the_console_needs_a_role(
    world: World, federation: Federation
) -> None:
    world.config(section("base", mfa_serial=DEVICE, credproc_mfa_process=COUNTING))
    done = world.run("console", "--profile", "base")
    assert done.returncode == 3 and done.stdout == ""
    assert "gives an MFA session, not role credentials" in done.stderr
    assert "console sign-in (federation) takes role credentials" in done.stderr
    assert done.stderr.count("\n") == 1
    assert world.prompts() == 0 and world.sts.calls == [] and federation.sessions == []


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (400, "", "refused the role credentials of prod-mfa (HTTP 400)"),
        (500, "", "(HTTP 500)"),
        (200, '{"nothing": "here"}', "answered without a sign-in token"),
        (200, "<html>", "answered without a sign-in token"),
    ],
)
def test_an_endpoint_that_refuses_is_one_line_with_exit_6(
    world: World, federation: Federation, status: int, body: str, words: str
) -> None:
    world.standard_config()
    federation.status, federation.body = status, body
    done = world.run("console", "--profile", "prod-mfa", "--print", "-v")
    assert done.returncode == 6 and done.stdout == ""
    (last,) = [line for line in done.stderr.splitlines() if "sign-in endpoint" in line]
    assert words in last and last == done.stderr.splitlines()[-1]
    leaks = [s for s in secrets_of(world, federation) if s in done.stderr]
    assert leaks == []


def test_an_endpoint_that_does_not_speak_http_is_one_line_with_exit_7(world: World) -> None:
    world.standard_config()
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_garbage() -> None:
        peer, _ = listener.accept()
        with peer:
            peer.recv(65536)
            peer.sendall(b"HELLO\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/federation"
    with listener:
        done = world.run(
            "console", "--profile", "prod-mfa", "--print", env={"CREDPROC_SIGNIN_URL": url}
        )
    assert done.returncode == 7 and done.stdout == ""
    assert done.stderr.startswith(f"credproc: cannot reach the AWS sign-in endpoint {url}: ")
    assert done.stderr.count("\n") == 1 and "Action=" not in done.stderr


def test_an_unreachable_endpoint_is_one_line_with_exit_7(world: World) -> None:
    world.standard_config()
    done = world.run(
        "console",
        "--profile",
        "prod-mfa",
        "--print",
        env={"CREDPROC_SIGNIN_URL": "http://127.0.0.1:9/federation"},
    )
    assert done.returncode == 7 and done.stdout == ""
    assert done.stderr.startswith("credproc: cannot reach the AWS sign-in endpoint")
    assert done.stderr.count("\n") == 1 and "Action=" not in done.stderr


def test_another_user_cannot_take_the_one_time_link(world: World, federation: Federation) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to fetch the link as another user")
    world.standard_config()
    program, record = browser(world)
    env = {"BROWSER": program, "BROWSER_RECORD": str(record), "BROWSER_FOREIGN_UID": str(NOBODY)}
    done = world.run("console", "--profile", "prod-mfa", env=env)
    assert done.returncode == 0, done.stderr
    (started,) = opened(record)
    assert started["foreign"] == 403  # refused, and the link stayed good for its owner
    assert started["status"] == 200 and len(federation.logins) == 1


def test_no_browser_is_a_clear_error(world: World, federation: Federation) -> None:
    world.standard_config()
    done = world.run(
        "console", "--profile", "prod-mfa", env={"BROWSER": "/bin/false", "PATH": "/nonexistent"}
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "credproc: no web browser could be started (set BROWSER, or use --print and open the URL)\n"
    )


# the one-time link itself, in this process


def test_the_link_redirects_once_then_its_port_closes() -> None:
    link = handoff.OneTimeLink("https://signin.example/federation?Action=login&SigninToken=t")
    serving = threading.Thread(target=link.serve, args=(float("inf"),), daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{link.port}"
    for wrong in ("/", "/guess", link.secret + "x"):
        with pytest.raises(urllib.error.HTTPError) as missed:
            urllib.request.urlopen(base + wrong, timeout=5)
        assert missed.value.code == 404
    rebinding = urllib.request.Request(link.link, headers={"Host": f"evil.example:{link.port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebinding, timeout=5)
    assert refused.value.code == 403
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(link.link, timeout=5)
    assert redirected.value.code == 302 and redirected.value.headers["Location"] == link.url
    assert redirected.value.headers["Cache-Control"] == "no-store"
    serving.join(5)
    assert not serving.is_alive()  # answered once: it serves no more
    link.close(serving)
    assert refused_connection(link.link)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_a_browser_that_never_asks_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "BROWSER_SECONDS", 1)
    monkeypatch.setenv("BROWSER", "/bin/true")
    with pytest.raises(UsageError, match="did not ask for the sign-in link within 1 s"):
        handoff.open_in_browser("https://signin.example/federation?SigninToken=t")


# the URL's parts


@pytest.mark.parametrize(
    ("partition", "region", "path", "expected"),
    [
        ("aws", "", "", "https://console.aws.amazon.com/"),
        ("aws", "eu-west-1", "", "https://console.aws.amazon.com/console/home?region=eu-west-1"),
        ("aws", "", "s3/home", "https://console.aws.amazon.com/s3/home"),
        ("aws", "us-east-2", "/ec2/home?x=1", "https://console.aws.amazon.com/ec2/home?x=1&region=us-east-2"),
        ("aws", "us-east-2", "s3/home?region=eu-west-1", "https://console.aws.amazon.com/s3/home?region=eu-west-1"),
        ("aws-cn", "cn-north-1", "", "https://console.amazonaws.cn/console/home?region=cn-north-1"),
        ("aws-us-gov", "us-gov-west-1", "s3/home", "https://console.amazonaws-us-gov.com/s3/home?region=us-gov-west-1"),
    ],
)  # fmt: skip
def test_destination_is_the_partitions_console_page_in_the_region(
    partition: str, region: str, path: str, expected: str
) -> None:
    assert console.destination(console.PARTITIONS[partition], region, path) == expected


def test_each_partition_signs_in_at_its_own_host() -> None:
    hosts = {
        name: console.partition(f"arn:{name}:iam::123456789012:role/R")[1].signin
        for name in ("aws", "aws-cn", "aws-us-gov")
    }
    assert hosts == {
        "aws": "https://signin.aws.amazon.com/federation",
        "aws-cn": "https://signin.amazonaws.cn/federation",
        "aws-us-gov": "https://signin.amazonaws-us-gov.com/federation",
    }
    with pytest.raises(ConfigError, match="partition aws-iso is not known"):
        console.partition("arn:aws-iso:iam::123456789012:role/R")


@pytest.mark.parametrize(
    "url",
    ["http://signin.example/federation", "ftp://127.0.0.1/f", "https://s.example/f?x=1", "nope"],
)
def test_a_signin_url_that_would_send_credentials_in_the_clear_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv(console.SIGNIN_URL_ENV, url)
    with pytest.raises(ConfigError, match="is not an https URL"):
        console.endpoint("https://default")


def test_a_region_of_another_partition_or_a_url_as_path_is_a_usage_error(world: World) -> None:
    world.standard_config()
    for args, words in (
        (("--region", "cn-north-1"), "region cn-north-1 is in partition aws-cn"),
        (("--region", "Europe"), "--region Europe is not a region name"),
        (("--path", "https://evil.example/x"), "is a URL"),
    ):
        done = world.run("console", "--profile", "prod-mfa", "--print", *args)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    assert world.prompts() == 0 and world.sts.calls == []


def test_the_browser_gets_no_aws_keys_and_the_process_has_no_url_on_its_command_line(
    world: World, federation: Federation
) -> None:
    """What `ps` shows while the browser runs: credproc's and the browser's command lines."""
    world.standard_config()
    lines = world.root / "ps.txt"
    program = world.root / "browser"
    program.write_text(
        "#!/bin/sh\n"
        f'ps -eo args > {lines}\nexec {PYTHON} {ROOT / "tests" / "browser_recorder.py"} "$@"\n'
    )
    program.chmod(0o755)
    record = world.root / "browser.jsonl"
    done = world.run(
        "console",
        "--profile",
        "prod-mfa",
        env={"BROWSER": str(program), "BROWSER_RECORD": str(record)},
    )
    assert done.returncode == 0, done.stderr
    shown = lines.read_text()
    assert "127.0.0.1" in shown  # the dead-after-use link is what a command line carries
    assert [s for s in secrets_of(world, federation) if s in shown] == []
    assert "SigninToken" not in shown and federation.url not in shown


def test_console_help_names_its_options() -> None:
    done = subprocess.run(
        [PYTHON, "-m", "credproc", "console", "--help"], capture_output=True, text=True, check=True
    )
    assert all(word in done.stdout for word in ("--print", "--region", "--path", "--profile"))
