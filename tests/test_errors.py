"""How text from an endpoint becomes part of a one-line message."""

from __future__ import annotations

from credproc.errors import one_line


def test_access_key_ids_in_an_endpoints_text_are_masked() -> None:
    text = "The Access Key with id AKIARZPUZDIKO6GMV2MW cannot be found;\n ASIAQWERTYUIOPASDFGH too"
    assert one_line(text) == "The Access Key with id AKIA...V2MW cannot be found; ASIA...DFGH too"


def test_long_text_is_cut_to_the_limit_and_other_words_are_kept() -> None:
    assert one_line("AKIA is a prefix, arn:aws:iam::123456789012:user/alice") == (
        "AKIA is a prefix, arn:aws:iam::123456789012:user/alice"
    )
    assert one_line("x" * 500, 20) == "x" * 17 + "..."
