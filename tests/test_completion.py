"""Issue 12, part 3: `credproc completion bash|zsh|fish`, proven with the real shells: bash's
`complete -p` and its completion function as bash calls it, bash and zsh typing TAB in a
pseudo-terminal, fish's `complete -C`; and the answer behind every TAB, read from args.py's
grammar and the config files, without botocore or cryptography."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pexpect
import pytest

from credproc.args import grammar
from credproc.commands import ENV_FORMAT_NAMES
from credproc.completion import candidates, words_of
from tests.conftest import BASE_SECRET, World, require_installed, section

BASH, ZSH, FISH = "/usr/bin/bash", "/usr/bin/zsh", "/usr/bin/fish"
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
# every profile of the world below, in both files; the sso-session is not a profile
PROFILES = ["base", "default", "prod", "prod-mfa", "team"]
COMPLETE_PROFILE = ["completion", "--complete", "bash", "credproc --profile "]


@pytest.fixture
def shell_world(world: World) -> World:
    world.standard_config(
        section("default", region="eu-west-1"),
        "[sso-session corp]\nsso_region = us-east-1\n\n",
    )
    with world.credentials_file.open("a") as credentials:
        credentials.write("\n[team]\naws_access_key_id = AKIAQQQQTEAMKEYID0001\n")
    return world


def words(line: str) -> list[str]:
    return [c.word for c in candidates(grammar(ENV_FORMAT_NAMES), words_of(line)[1:])]


def subcommands() -> list[str]:
    (sub,) = [
        a for a in grammar(ENV_FORMAT_NAMES)._actions if isinstance(a, argparse._SubParsersAction)
    ]
    return list(sub._name_parser_map)


def test_every_subcommand_of_the_grammar_completes_and_nothing_else() -> None:
    names = subcommands()
    assert {"login", "status", "env", "exec", "check", "completion"} <= set(names)
    assert words("credproc ") == names
    assert words("credproc c") == [n for n in names if n.startswith("c")]
    assert words("credproc nosuch ") == []


def test_options_are_those_of_the_subcommand_typed() -> None:
    assert words("credproc env --") == ["--help", "--verbose", "--profile", "--format"]
    assert words("credproc status --") == ["--help", "--verbose", "--profile", "--json"]
    assert words("credproc --v") == ["--verbose", "--version"]
    # given once, an option is not offered again; hidden ones never are
    assert words("credproc env --profile prod --") == ["--help", "--verbose", "--format"]
    assert words("credproc completion --") == ["--help"]


def test_option_values_are_its_choices_in_either_spelling() -> None:
    assert words("credproc env --format ") == ENV_FORMAT_NAMES
    assert words("credproc env --format d") == ["dotenv"]
    assert words("credproc env --format=p") == ["--format=powershell"]
    assert words("credproc completion ") == ["bash", "zsh", "fish"]


def test_exec_command_and_free_text_are_left_to_the_shell() -> None:
    assert words("credproc exec --profile prod -- ") == []
    assert words("credproc exec --profile prod aws s") == []
    assert words("credproc env --format json ") == []


def test_a_positional_profile_completes_profile_names(
    shell_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`add | remove | rotate | init PROFILE` (other issues) name their argument profile."""
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(key, shell_world.env[key])
    parser = argparse.ArgumentParser(prog="credproc")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("add").add_argument("profile")
    sub.add_parser("init").add_argument("name", metavar="PROFILE")
    sub.add_parser("note").add_argument("text")
    assert [c.word for c in candidates(parser, ["add", ""])] == PROFILES
    assert [c.word for c in candidates(parser, ["init", "pr"])] == ["prod", "prod-mfa"]
    assert candidates(parser, ["add", "prod", ""]) == []  # one profile only
    assert candidates(parser, ["note", ""]) == []


@pytest.mark.parametrize("command", ["add", "remove", "rotate", "init"])
def test_the_profile_argument_of_the_real_grammar_completes_profile_names(
    shell_world: World, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(key, shell_world.env[key])
    assert words(f"credproc {command} ") == PROFILES
    assert words(f"credproc {command} prod-") == ["prod-mfa"]
    assert words(f"credproc {command} prod ") == []  # one profile only


def test_words_are_split_as_the_shell_splits_them() -> None:
    assert words_of("credproc --profile 'my pr") == ["credproc", "--profile", "my pr"]
    assert words_of("credproc --profile a\\ b ") == ["credproc", "--profile", "a b", ""]
    assert words_of("credproc env") == ["credproc", "env"]
    assert words_of("") == [""]


def complete(world: World, shell: str, line: str) -> subprocess.CompletedProcess[str]:
    return world.run("completion", "--complete", shell, line)


def test_profiles_come_from_both_files_at_completion_time(shell_world: World) -> None:
    done = complete(shell_world, "bash", "credproc --profile ")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == PROFILES
    assert complete(shell_world, "bash", "credproc login --profile prod-").stdout == "prod-mfa\n"
    assert BASE_SECRET not in done.stdout  # names, never values


def test_unreadable_config_completes_nothing_and_says_nothing(shell_world: World) -> None:
    shell_world.config_file.write_text("[profile broken\nregion = x\n")
    done = complete(shell_world, "bash", "credproc --profile ")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = complete(shell_world, "tcsh", "credproc ")  # a shell no script is for
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_completion_imports_neither_botocore_nor_cryptography(shell_world: World) -> None:
    done, imported = shell_world.imports(*COMPLETE_PROFILE)
    assert done.returncode == 0 and done.stdout.split() == PROFILES
    assert "credproc.completion" in imported and "credproc.config" in imported
    heavy = {
        m
        for m in imported
        if m.split(".")[0] in ("boto3", "botocore", "cryptography", "awscrt", "keyring")
        or m.startswith(("credproc.resolve", "credproc.prompt", "credproc.sources"))
    }
    assert heavy == set()


def test_completion_without_a_known_shell_is_a_usage_error(world: World) -> None:
    for argv in (["completion"], ["completion", "tcsh"]):
        done = world.run(*argv)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("credproc: ") and done.stderr.count("\n") == 1


def run_shell(world: World, *argv: str) -> str:
    """What a shell run as a script (not interactive) prints; it must succeed."""
    require_installed(argv[0], Path(argv[0]).name)
    done = subprocess.run(
        argv, env=world.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def bash(world: World, script: str) -> str:
    return run_shell(world, BASH, "--norc", "--noprofile", "-c", script)


def bash_reply(world: World, line: str) -> list[str]:
    """COMPREPLY of the completion function, called as bash calls it on TAB at the end of line."""
    script = (
        'eval "$(credproc completion bash)"\n'
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}\n"
        'read -r -a COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
        '_credproc credproc "${COMP_WORDS[COMP_CWORD]}" credproc\n'
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    return bash(world, script).splitlines()


def test_bash_registers_its_completion_function(shell_world: World) -> None:
    registered = bash(shell_world, 'eval "$(credproc completion bash)"; complete -p credproc')
    assert registered.strip() == "complete -o default -F _credproc credproc"


def test_bash_function_replies_with_subcommands_options_and_profiles(shell_world: World) -> None:
    assert bash_reply(shell_world, "credproc l") == ["login"]
    assert bash_reply(shell_world, "credproc env --f") == ["--format"]
    assert bash_reply(shell_world, "credproc exec --profile pr") == ["prod", "prod-mfa"]
    # bash splits `--format=d` at `=` and replaces only what follows it
    assert bash_reply(shell_world, "credproc env --format=d") == ["dotenv"]


class Terminal:
    """An interactive shell in a pseudo-terminal: lines typed, TAB pressed, the screen read."""

    def __init__(self, world: World, argv: list[str], setup: str) -> None:
        require_installed(argv[0], Path(argv[0]).name)
        self.child = pexpect.spawn(
            argv[0],
            argv[1:],
            env={**world.env, "TERM": "dumb", "PS1": "$ ", "PROMPT": "$ "},
            encoding="utf-8",
            codec_errors="replace",
            timeout=20,
            dimensions=(24, 200),
        )
        self.lines = 0
        self.sync(setup)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.close(force=True)

    def sync(self, command: str = ":") -> None:
        """Run `command` and wait for its end: what is typed next meets a fresh prompt."""
        self.lines += 1
        self.child.sendline(f"{command}; echo DONE-$(( {self.lines} * 1000 + 1 ))")
        self.child.expect(f"DONE-{self.lines * 1000 + 1}")

    def tab(self, typed: str, expected: str) -> None:
        """Type, press TAB once, see `expected` (a regex), then drop the line."""
        self.child.send(typed + "\t")
        self.child.expect(expected)
        self.child.send("\x03")
        self.sync()


def install(world: World, shell: str, path: Path) -> Path:
    """The script for `shell` written where the README says; the folder it is in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bash(world, f"credproc completion {shell}"))
    return path.parent


# what every shell must complete on TAB: a subcommand, and profiles from both files
EVERY_SHELL = [
    ("credproc log", r"credproc login "),
    ("credproc --profile ", r"base\s+default\s+prod\s+prod-mfa\s+team"),
]


def test_bash_completes_on_tab_as_installed_for_bash_completion(shell_world: World) -> None:
    require_installed(BASH_COMPLETION, "bash-completion")
    data = shell_world.home / ".local" / "share"
    install(shell_world, "bash", data / "bash-completion" / "completions" / "credproc")
    # bash-completion loads completions/credproc at the first TAB; a choice is listed at once
    setup = f"source {BASH_COMPLETION}; bind 'set show-all-if-ambiguous on'"
    with Terminal(shell_world, [BASH, "--norc", "--noprofile", "-i"], setup) as terminal:
        for typed, seen in [
            *EVERY_SHELL,
            ("credproc env --format ", r"dotenv\s+fish\s+json\s+powershell\s+sh"),
        ]:
            terminal.tab(typed, seen)


def test_zsh_completes_on_tab_from_a_file_in_fpath(shell_world: World) -> None:
    folder = install(shell_world, "zsh", shell_world.home / ".zfunc" / "_credproc")
    setup = f"fpath=({folder} $fpath); autoload -Uz compinit; compinit -u -D"
    with Terminal(shell_world, [ZSH, "-f", "-i"], setup) as terminal:
        for typed, seen in [
            *EVERY_SHELL,
            ("credproc env --", r"--profile +-- the profile to resolve(?s:.*)--format"),
        ]:
            terminal.tab(typed, seen)


def fish_complete(world: World, line: str) -> list[str]:
    install(world, "fish", world.home / ".config" / "fish" / "completions" / "credproc.fish")
    # fish loads completions/credproc.fish itself, at the first completion of credproc
    return run_shell(world, FISH, "-c", f"complete -C {line!r}").splitlines()


def test_fish_completes_subcommands_options_and_profiles(shell_world: World) -> None:
    assert fish_complete(shell_world, "credproc --profile ") == PROFILES
    assert fish_complete(shell_world, "credproc env --format=j") == ["--format=json"]
    login = [line for line in fish_complete(shell_world, "credproc lo") if line.startswith("log")]
    assert login == ["login\tget or renew credentials now, asking for a code"]


def test_scripts_hold_no_list_of_their_own(world: World) -> None:
    """A subcommand added to args.py completes without a new script: none names one."""
    for shell in ("bash", "zsh", "fish"):
        text = bash(world, f"credproc completion {shell}")
        assert re.search(r"\b(login|status|exec|--format|--json)\b", text) is None, shell
        assert "completion --complete " + shell in text
