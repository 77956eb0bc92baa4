"""Property tests: whatever the config files or a cache entry hold, credproc answers with its
own errors (a one-line message and an exit code), never with a traceback."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credproc import config, entry, plan
from credproc.entry import ROLE, CacheEntry, Credentials
from credproc.errors import CredprocError

# a few seconds in the suite; FUZZ_EXAMPLES=5000 for a longer hunt
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NAMES = ["base", "prod", "mid", "default", "a b", "ünï", ""]
KEYS = [
    "role_arn",
    "source_profile",
    "credential_source",
    "mfa_serial",
    "duration_seconds",
    "external_id",
    "role_session_name",
    "region",
    "endpoint_url",
    "sts_regional_endpoints",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "sso_session",
    "sso_start_url",
    "credential_process",
    "web_identity_token_file",
    "credproc_prompt",
    "credproc_mfa_process",
    "credproc_pinentry",
    "credproc_mfa_session",
    "credproc_session_duration",
    "credproc_unknown",
]
VALUES = [
    "arn:aws:iam::123456789012:role/Admin",
    "arn:aws-cn:iam::123456789012:role/x",
    "arn:aws:iam::111111111111:mfa/alice",
    "GAHT12345678",
    "arn:aws:iam::1:role/short",
    "Environment",
    "Ec2InstanceMetadata",
    "EcsContainer",
    "Nowhere",
    "3600",
    "900",
    "129600",
    "43201",
    "0",
    "-5",
    "1e3",
    "\u00b2",  # a digit to str.isdigit, not to int()
    "\u0661\u0662\u0663\u0664",  # Arabic-Indic digits
    "true",
    "FALSE",
    "maybe",
    "auto",
    "tty",
    "process",
    "AKIAEXAMPLE",
    "http://127.0.0.1:1",
    "us-east-1",
    "",
    "%(x)s",
    "'quoted'",
    "a\tb",
    *NAMES,
]


@contextlib.contextmanager
def config_files(text: str | bytes, credentials: str) -> Iterator[None]:
    with tempfile.TemporaryDirectory() as folder:
        paths = {
            "AWS_CONFIG_FILE": os.path.join(folder, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(folder, "credentials"),
        }
        for var, content in (
            ("AWS_CONFIG_FILE", text),
            ("AWS_SHARED_CREDENTIALS_FILE", credentials),
        ):
            with open(paths[var], "wb") as f:
                raw = (
                    content
                    if isinstance(content, bytes)
                    else content.encode(errors="surrogatepass")
                )
                f.write(raw)
        saved = {k: os.environ.get(k) for k in paths}
        os.environ.update(paths)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def load_and_plan_every_profile(text: str | bytes, credentials: str = "") -> None:
    """config.load and plan.build may refuse, but only with credproc's own errors."""
    with config_files(text, credentials):
        try:
            loaded = config.load()
        except CredprocError as exc:
            assert exc.line().count("\n") == 0
            return
        for name in [*loaded.profiles, "missing"]:
            try:
                built = plan.build(loaded, name)
            except CredprocError as exc:
                assert exc.line().count("\n") == 0 or "\n" in name
                continue
            assert built.steps and all(len(s.identity) == 32 for s in built.steps)


line = st.one_of(
    st.builds(lambda n: f"[profile {n}]", st.sampled_from(NAMES)),
    st.builds(lambda n: f"[{n}]", st.sampled_from([*NAMES, "sso-session x", "profile"])),
    st.builds(
        lambda k, sep, v: f"{k}{sep}{v}",
        st.sampled_from(KEYS),
        st.sampled_from([" = ", "=", ": ", " "]),
        st.one_of(st.sampled_from(VALUES), st.text(max_size=12)),
    ),
    st.sampled_from(["", "# comment", "; comment", "  continued", "[", "]", "=", "\ufeff"]),
    st.text(max_size=20),
)


@FUZZ
@given(st.lists(line, max_size=25), st.lists(line, max_size=6))
def test_config_built_from_real_keys_never_crashes(
    lines: list[str], credentials: list[str]
) -> None:
    load_and_plan_every_profile("\n".join(lines), "\n".join(credentials))


NUMBER_KEYS = ["duration_seconds", "credproc_session_duration"]
NUMBERS = [
    "3600",
    "899",
    "43201",
    "",
    " 1 ",
    "+900",
    "1_000",
    "0x400",
    "\u00b2",
    "\u0663\u0666\u0660\u0660",
]
key_value = st.one_of(
    st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.tuples(st.sampled_from(NUMBER_KEYS), st.sampled_from(NUMBERS)),
)
profile_section = st.tuples(st.sampled_from(NAMES), st.lists(key_value, max_size=8).map(dict))


@FUZZ
@given(st.lists(profile_section, max_size=5), st.lists(profile_section, max_size=2))
@example([("base", {"duration_seconds": "\u00b2"})], [])  # isdigit() but not int(): found here
def test_profiles_of_real_keys_and_odd_values_never_crash(
    profiles: list[tuple[str, dict[str, str]]], credentials: list[tuple[str, dict[str, str]]]
) -> None:
    def ini(sections: list[tuple[str, dict[str, str]]], prefix: str) -> str:
        return "".join(
            f"[{prefix}{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
            for name, values in sections
        )

    load_and_plan_every_profile(ini(profiles, "profile "), ini(credentials, ""))


VALID = (
    "[profile base]\nregion = us-east-1\ncredproc_mfa_process = echo 123456\n\n"
    "[profile prod-mfa]\nrole_arn = arn:aws:iam::123456789012:role/Admin\n"
    "source_profile = base\nmfa_serial = arn:aws:iam::111111111111:mfa/alice\n"
    "duration_seconds = 3600\n\n"
    "[profile chained]\nrole_arn = arn:aws:iam::123456789012:role/Next\n"
    "source_profile = prod-mfa\nexternal_id = xyz\nrole_session_name = me\n"
)
VALID_CREDENTIALS = "[base]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n"


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    chars = list(text)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(chars)))
        how = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = list(draw(st.sampled_from([*VALUES, "[", "]", "=", "\n", "\0", "\udcff"])))
        if how == "insert":
            chars[at:at] = piece
        elif how == "delete":
            del chars[at : at + draw(st.integers(1, 20))]
        elif how == "replace":
            chars[at : at + len(piece)] = piece
        else:
            chars[at:at] = chars[max(0, at - 40) : at]
    return "".join(chars)


@FUZZ
@given(mutated(VALID), mutated(VALID_CREDENTIALS))
def test_mutated_config_never_crashes(text: str, credentials: str) -> None:
    load_and_plan_every_profile(text, credentials)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_config_of_random_bytes_never_crashes(blob: bytes) -> None:
    load_and_plan_every_profile(blob)


KEY = bytes(range(32))
NAME = "0" * 32
GOOD = entry.seal(KEY, NAME, CacheEntry(ROLE, credentials=Credentials("a", "b", "c", 1)))


def never_opens(blob: bytes) -> None:
    """Bytes that are not what credproc sealed under this key and name never open: a forger
    without the key cannot make an entry, let alone a record of their choosing."""
    try:
        record = entry.unseal(KEY, NAME, blob)
    except entry.InvalidEntry:
        return
    raise AssertionError(f"forged bytes opened as {record!r}")


@FUZZ
@given(st.binary(max_size=200))
def test_random_blobs_are_invalid_entries(blob: bytes) -> None:
    never_opens(blob)
    never_opens(b"CPE\x01" + blob)
    never_opens(GOOD[:16] + blob)  # a real header and nonce


@FUZZ
@given(st.data())
def test_mutated_entries_are_invalid_entries(data: st.DataObject) -> None:
    blob = bytearray(GOOD)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(blob)))
        how = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if how == "flip" and at < len(blob):
            blob[at] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del blob[at:]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    if bytes(blob) != GOOD:
        never_opens(bytes(blob))
