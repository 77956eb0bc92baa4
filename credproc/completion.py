"""`credproc completion`: a script per shell that asks credproc, at each TAB, what may follow
the words typed so far, and the answer: subcommands, options and their values from args.py's
grammar, profile names from the config files. The scripts hold no list of their own, so a new
subcommand or option completes as soon as args.py has it; an answer imports neither botocore
nor cryptography, and says nothing (never a traceback) when the files cannot be read."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from typing import NamedTuple

from credproc.config import PROGRAMS, load
from credproc.errors import CredprocError

WORD_BREAKS = "=:"  # bash splits a word here (COMP_WORDBREAKS) and replaces only what follows
SHELL_SAFE = re.compile(r"[\w@%+=:,./-]*")
FREE = (argparse.REMAINDER, argparse.PARSER)  # a command line of its own follows (`exec`)


class Candidate(NamedTuple):
    word: str
    help: str = ""


def words_of(line: str) -> list[str]:
    """The words of a command line typed up to the cursor, as a POSIX shell splits them; the
    last is the word being typed ("" after a space)."""
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    words: list[str] = []
    try:
        words.extend(lexer)
    except ValueError:  # an open quote: the word being typed so far
        return [*words, lexer.token]
    if not line or (line[-1].isspace() and not line.endswith("\\" + line[-1])):
        words.append("")
    return words


def profile_names() -> list[str]:
    """Profiles of both AWS files, as credproc reads them; none when they cannot be read."""
    try:
        return sorted(load().profiles)
    except (CredprocError, OSError):
        return []


def _takes_profile(action: argparse.Action) -> bool:
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return action.dest == "profile" or metavar.lower() == "profile"


def _values(action: argparse.Action, prefix: str) -> list[Candidate]:
    """What may be given to `action`: its choices, profile names, or nothing said (free text)."""
    if action.choices is not None:
        words = [str(choice) for choice in action.choices]
    elif _takes_profile(action):
        words = profile_names()
    else:
        words = []
    return [Candidate(word) for word in words if word.startswith(prefix)]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]


def _options(parser: argparse.ArgumentParser, used: set[str], prefix: str) -> list[Candidate]:
    """The options of `parser` not given yet; a short one only where there is no long one."""
    found = []
    for action in parser._actions:
        names = action.option_strings
        if not names or action.help == argparse.SUPPRESS or used & set(names):
            continue
        long = [name for name in names if name.startswith("--")] or names
        found += [Candidate(name, action.help or "") for name in long if name.startswith(prefix)]
    return found


class _Position(NamedTuple):
    """Where the words typed before the current one leave the grammar."""

    parser: argparse.ArgumentParser
    pending: argparse.Action | None  # an option whose value comes next
    positional: argparse.Action | None  # the positional the next plain word fills
    used: set[str]  # options given so far to this parser
    chosen: bool  # a subcommand was named
    free: bool  # a command line of its own has begun


def _walk(parser: argparse.ArgumentParser, words: list[str]) -> _Position:
    pending: argparse.Action | None = None
    used: set[str] = set()
    chosen, filled, taken = False, 0, 0  # positionals filled, words the current one has taken
    for word in words:
        positionals = _positionals(parser)
        current = positionals[filled] if filled < len(positionals) else None
        if pending is not None:
            pending = None
        elif word.startswith("-") and len(word) > 1 and word != "--":
            name, equals, _ = word.partition("=")
            action = parser._option_string_actions.get(name)
            if action is not None:
                used.update(action.option_strings)
                pending = action if _takes_value(action) and not equals else None
        elif current is not None and current.nargs in FREE:
            return _Position(parser, None, None, used, chosen, True)
        elif word == "--":
            continue
        elif (sub := _subcommands(parser)) is not None and not chosen and filled == 0:
            if word not in sub._name_parser_map:
                return _Position(parser, None, None, used, True, False)  # not ours: say nothing
            parser, used, chosen, filled, taken = sub._name_parser_map[word], set(), True, 0, 0
        elif current is not None:
            taken += 1
            fixed = 1 if current.nargs in (None, "?") else current.nargs
            if isinstance(fixed, int) and taken >= fixed:
                filled, taken = filled + 1, 0
    positionals = _positionals(parser)
    current = positionals[filled] if filled < len(positionals) else None
    return _Position(parser, pending, current, used, chosen, False)


def candidates(parser: argparse.ArgumentParser, words: list[str]) -> list[Candidate]:
    """What may replace the last of `words` (the words after the program's name)."""
    *before, typing = words or [""]
    at = _walk(parser, before)
    if at.free:
        return []
    if at.pending is not None:
        return _values(at.pending, typing)
    if typing.startswith("-"):
        name, equals, value = typing.partition("=")
        action = at.parser._option_string_actions.get(name)
        if equals and action is not None and _takes_value(action):
            return [Candidate(f"{name}={c.word}") for c in _values(action, value)]
        return _options(at.parser, at.used, typing)
    sub = _subcommands(at.parser)
    if sub is not None and not at.chosen:
        helps = {a.dest: a.help or "" for a in sub._choices_actions}
        return [
            Candidate(n, helps.get(n, "")) for n in sub._name_parser_map if n.startswith(typing)
        ]
    if at.positional is not None and at.positional.nargs not in FREE:
        return _values(at.positional, typing)
    return []


def _bash(found: list[Candidate], typing: str) -> Iterator[str]:
    """Words as bash inserts them: after the last word break of the word being typed, and
    escaped, since bash inserts a reply as it is."""
    cut = max(typing.rfind(mark) for mark in WORD_BREAKS) + 1
    for candidate in found:
        word = candidate.word[cut:] if candidate.word.startswith(typing[:cut]) else candidate.word
        yield word if SHELL_SAFE.fullmatch(word) else shlex.quote(word)


def _zsh(found: list[Candidate], typing: str) -> Iterator[str]:
    """`word:help` lines for _describe, a colon in the word escaped."""
    for candidate in found:
        word = candidate.word.replace("\\", "\\\\").replace(":", "\\:")
        yield f"{word}:{candidate.help}" if candidate.help else word


def _fish(found: list[Candidate], typing: str) -> Iterator[str]:
    """`word<TAB>help` lines, as fish's `complete -a` reads them."""
    for candidate in found:
        help_text = " ".join(candidate.help.split())
        yield f"{candidate.word}\t{help_text}" if help_text else candidate.word


def answer(parser: argparse.ArgumentParser, shell: str, line: str) -> str:
    """The candidates for the command line `line` (typed up to the cursor), one a line, in
    the form `shell` reads them."""
    words = words_of(line)[1:]  # the program's name, however it was typed, is not ours
    found = candidates(parser, words)
    return "\n".join(FORMATS[shell](found, words[-1] if words else ""))


BASH = r"""# credproc completion for bash: eval "$(credproc completion bash)"
_credproc() {
    local prog=${1/#\~/$HOME} word
    COMPREPLY=()
    while IFS= read -r word; do
        COMPREPLY+=("$word")
    done < <("$prog" completion --complete bash "${COMP_LINE:0:COMP_POINT}" 2>/dev/null </dev/null)
}
complete -o default -F _credproc PROGRAMS
"""

ZSH = r"""#compdef PROGRAMS
# credproc completion for zsh: a file _credproc in $fpath, or source <(credproc completion zsh)
_credproc() {
    local prog=${words[1]/#\~/$HOME} line
    local -a found
    line="${(j: :)${(@)words[1,CURRENT-1]}} $PREFIX"
    found=("${(@f)$("$prog" completion --complete zsh "$line" 2>/dev/null </dev/null)}")
    found=(${found:#})
    if (( ${#found} )); then
        _describe -t credproc credproc found
    else
        _default
    fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _credproc "$@"
else
    compdef _credproc PROGRAMS
fi
"""

FISH = r"""# credproc completion for fish: credproc completion fish | source
function __credproc_complete
    set -l prog (string replace -r '^~' $HOME -- (commandline -opc)[1])
    set -l found ($prog completion --complete fish (commandline -cp) 2>/dev/null </dev/null)
    if test (count $found) -gt 0
        printf '%s\n' $found
    else
        __fish_complete_path (commandline -ct)
    end
end
for prog in PROGRAMS
    complete -c $prog -f -a '(__credproc_complete)'
end
"""

FORMATS = {"bash": _bash, "zsh": _zsh, "fish": _fish}
SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
SHELLS = tuple(SCRIPTS)


def script(shell: str) -> str:
    """The completion script for `shell`."""
    return SCRIPTS[shell].replace("PROGRAMS", " ".join(PROGRAMS))
