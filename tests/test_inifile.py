"""Edits to the person's own files keep every byte they were not asked to change."""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credproc import inifile
from credproc.errors import ConfigError

CREDENTIALS = (
    "# my keys\n"
    "[default]\n"
    "aws_access_key_id = AKIADEFAULT\n"
    "\n"
    "[base]   \n"
    "; the user's long-term keys\n"
    "AWS_ACCESS_KEY_ID=AKIABASE\n"
    "aws_secret_access_key : secret\n"
    "  continued\n"
    "\n"
    "# keep me\n"
    "region = eu-west-1\n"
    "[other]\n"
    "aws_access_key_id = AKIAOTHER\n"
)


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def parsed(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return {name: dict(parser.items(name)) for name in parser.sections()}


def test_sections_and_keys_are_read_as_configparser_reads_them() -> None:
    found = inifile.sections(lines(CREDENTIALS))
    assert [(s.header, s.start, s.end) for s in found] == [
        ("default", 1, 4),
        ("base", 4, 12),
        ("other", 12, 14),
    ]
    base = found[1]
    assert [(k.name, k.start, k.end) for k in base.keys] == [
        ("aws_access_key_id", 6, 7),
        ("aws_secret_access_key", 7, 9),  # its continuation line is part of it
        ("region", 11, 12),
    ]


def test_removing_keys_removes_exactly_their_lines() -> None:
    before = lines(CREDENTIALS)
    section = inifile.find(before, "base", config_file=False)
    assert section is not None
    after = inifile.without_keys(before, section, {"aws_access_key_id", "aws_secret_access_key"})
    assert after == before[:6] + before[9:]
    assert parsed("".join(after))["base"] == {"region": "eu-west-1"}
    assert parsed("".join(after))["other"] == parsed(CREDENTIALS)["other"]


def test_keys_are_added_after_the_last_key_in_the_files_own_line_ending() -> None:
    before = lines("[profile prod]\r\nregion = x\r\n\r\n# next\r\n[profile next]\r\n")
    section = inifile.find(before, "prod", config_file=True)
    assert section is not None
    after = inifile.with_keys(before, section, [("credential_process", "credproc --profile p")])
    assert "".join(after) == (
        "[profile prod]\r\nregion = x\r\ncredential_process = credproc --profile p\r\n"
        "\r\n# next\r\n[profile next]\r\n"
    )


def test_a_file_without_a_last_line_break_gets_one_before_what_is_added() -> None:
    before = lines("[profile prod]\nregion = x")
    section = inifile.find(before, "prod", config_file=True)
    assert section is not None
    assert "".join(inifile.with_keys(before, section, [("a", "b")])) == (
        "[profile prod]\nregion = x\na = b\n"
    )
    assert "".join(inifile.with_section(before, "profile p", [("a", "b")], len(before))) == (
        "[profile prod]\nregion = x\n\n[profile p]\na = b\n"
    )


def test_a_section_is_inserted_whole_before_another() -> None:
    before = lines("# top\n[profile prod]\nregion = x\n")
    after = inifile.with_section(before, "profile prod-mfa", [("role_arn", "r")], 1)
    assert (
        "".join(after) == "# top\n[profile prod-mfa]\nrole_arn = r\n\n[profile prod]\nregion = x\n"
    )


def test_the_config_files_profile_names_are_found_as_config_reads_them() -> None:
    text = lines('[default]\na = 1\n[profile  "spaced"]\nb = 2\n[sso-session s]\nc = 3\n')
    assert inifile.find(text, "default", config_file=True) is not None
    assert inifile.find(text, "spaced", config_file=True) is not None
    assert inifile.find(text, "sso-session s", config_file=True) is None
    assert inifile.find(text, "s", config_file=True) is None


KEY_NAMES = ["aws_access_key_id", "aws_secret_access_key", "region", "x"]
line_strategy = st.one_of(
    st.sampled_from(["", "# c", "; c", "  # indented comment", "[base]", "[other]", "[base] "]),
    st.builds(
        lambda k, sep, v: f"{k}{sep}{v}",
        st.sampled_from([*KEY_NAMES, "AWS_Access_Key_Id"]),
        st.sampled_from([" = ", "=", " : "]),
        st.sampled_from(["v", "", "a=b", "AKIA"]),
    ),
    st.builds(lambda v: f"  {v}", st.sampled_from(["continued", "more = x"])),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(line_strategy, max_size=20),
    st.sets(st.sampled_from(KEY_NAMES)),
    st.sampled_from(["\n", "\r\n"]),
)
def test_removing_keys_keeps_every_other_line_and_means_what_configparser_means(
    body: list[str], names: set[str], eol: str
) -> None:
    text = "[base]" + eol + eol.join(body) + eol
    try:
        meaning = parsed(text.replace("\r\n", "\n"))
    except configparser.Error:
        return  # not a file configparser reads: credproc refuses it before any edit
    before = lines(text)
    section = inifile.find(before, "base", config_file=False)
    assert section is not None
    after = inifile.without_keys(before, section, names)
    dropped, at = [], 0  # `after` must be `before` with some lines left out, in order
    for line in before:
        if at < len(after) and after[at] == line:
            at += 1
        else:
            dropped.append(line)
    assert at == len(after)
    assert all(line.strip() and not line.strip().startswith(("#", ";", "[")) for line in dropped)
    want = {k: v for k, v in meaning["base"].items() if k not in names}
    assert parsed("".join(after).replace("\r\n", "\n"))["base"] == want


def test_rewrite_is_atomic_and_keeps_mode_and_a_symlinked_file(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "credentials"
    real.parent.mkdir()
    real.write_bytes(CREDENTIALS.encode())
    real.chmod(0o640)
    link = tmp_path / "credentials"
    link.symlink_to(real)

    def drop_base_keys(text: list[str]) -> list[str]:
        section = inifile.find(text, "base", config_file=False)
        assert section is not None
        return inifile.without_keys(text, section, {"aws_access_key_id"})

    old, new = inifile.rewrite(str(link), drop_base_keys)
    assert old == CREDENTIALS and new == CREDENTIALS.replace("AWS_ACCESS_KEY_ID=AKIABASE\n", "")
    assert link.is_symlink() and real.read_text() == new
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(os.listdir(real.parent)) == ["credentials"]  # no temp file left


def test_a_file_changed_under_the_rewrite_is_left_as_the_other_writer_left_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config"
    path.write_text("[profile a]\nregion = x\n")

    def meanwhile(text: list[str]) -> list[str]:
        path.write_text("[profile a]\nregion = y\n")  # another editor saves
        return [*text, "[profile b]\n"]

    with pytest.raises(ConfigError, match="changed while credproc was rewriting it"):
        inifile.rewrite(str(path), meanwhile)
    assert path.read_text() == "[profile a]\nregion = y\n"
    assert os.listdir(tmp_path) == ["config"]


def test_bytes_that_are_not_utf8_survive_a_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"# caf\xe9\n[profile a]\nregion = x\n")
    inifile.rewrite(str(path), lambda text: [*text, "[profile b]\n"])
    assert path.read_bytes() == b"# caf\xe9\n[profile a]\nregion = x\n[profile b]\n"
