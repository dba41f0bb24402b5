"""The pure text functions of the Zalo bridge: split_text, to_plain, match_option."""

from __future__ import annotations

import pytest
from telegram.constants import ParseMode

from bot.zalo_api import TEXT_MAX_CHARS
from bot.zalo_bridge import match_option, split_text, to_plain

# --- split_text ------------------------------------------------------------------------------


def _check(parts: list[str], text: str, limit: int) -> None:
    """Every part fits, and the parts read as the text did, word for word."""
    assert all(0 < len(part) <= limit for part in parts), [len(p) for p in parts]
    assert " ".join(parts).split() == text.split()


def test_short_text_is_one_part_unchanged() -> None:
    assert split_text("Xin chào các bạn.") == ["Xin chào các bạn."]
    assert split_text("x" * TEXT_MAX_CHARS) == ["x" * TEXT_MAX_CHARS]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        # a paragraph wins over a later line, sentence and word boundary
        ("Para one here.\n\nPara two. Line\nmore words and more", "Para one here."),
        # a line wins over a later sentence boundary
        ("Line one\nLine two. Then words and more", "Line one"),
        # a sentence wins over a later word boundary (the period stays with its sentence)
        ("One sentence. Two words more here and more", "One sentence."),
    ],
    ids=["paragraph", "line", "sentence"],
)
def test_the_strongest_boundary_in_the_window_wins(text: str, first: str) -> None:
    assert len(text) > 30
    parts = split_text(text, limit=30)
    assert parts[0] == first
    _check(parts, text, 30)


def test_words_are_never_cut() -> None:
    text = " ".join(["công", "đoàn", "giáo", "dục", "Việt", "Nam"] * 60)
    for limit in (7, 10, 23, 100):
        parts = split_text(text, limit)
        _check(parts, text, limit)
        assert all(set(part.split()) <= set(text.split()) for part in parts)


def test_only_a_word_longer_than_the_limit_is_cut() -> None:
    long_word = "x" * 25
    text = f"Hello there {long_word} end"
    parts = split_text(text, limit=10)
    assert parts == ["Hello", "there", "x" * 10, "x" * 10, "x" * 5 + " end"]
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_default_limit_is_zalos_and_long_texts_keep_every_word() -> None:
    paragraph = "Đây là một câu khá dài về quyền lợi của đoàn viên công đoàn. " * 12
    text = "\n\n".join([paragraph.strip()] * 6)
    parts = split_text(text)
    assert len(parts) > 1
    _check(parts, text, TEXT_MAX_CHARS)
    assert all(part.endswith(".") for part in parts)  # cut at sentence ends, not mid-sentence


def test_the_latest_sentence_end_is_used_whatever_its_mark() -> None:
    """Docstring: "cut at the latest ... sentence ... boundary"; "!" and "?" end sentences."""
    text = "Short one. A longer second sentence! Tail"
    parts = split_text(text, limit=38)
    assert parts[0] == "Short one. A longer second sentence!", (
        f"split_text cut at the earlier '. ' instead of the latest sentence end '! ': {parts}"
    )


# --- to_plain --------------------------------------------------------------------------------


def test_html_becomes_plain_text() -> None:
    html = "<b>Tom &amp; Jerry</b> &lt;3 &quot;hi&quot;"
    assert to_plain(html, "HTML") == 'Tom & Jerry <3 "hi"'
    assert to_plain(html, ParseMode.HTML) == 'Tom & Jerry <3 "hi"'


def test_links_keep_their_address_once() -> None:
    assert to_plain('<a href="https://x">label</a>', "HTML") == "label (https://x)"
    assert to_plain('See <a href="https://x">https://x</a>.', "HTML") == "See https://x."


@pytest.mark.parametrize("mode", [None, "", "MarkdownV2", ParseMode.MARKDOWN_V2])
def test_other_parse_modes_leave_the_text_alone(mode: object) -> None:
    text = "<b>x</b> &amp; *y*"
    assert to_plain(text, mode) == text


# --- match_option ----------------------------------------------------------------------------

GENDERS: list[tuple[str, str | None]] = [
    ("Nam", "g:m"),
    ("Nữ", "g:f"),
    ("Không muốn trả lời", "g:x"),
]
ROLES: list[tuple[str, str | None]] = [
    ("Đoàn viên", "r:1"),
    ("Ủy viên ban chấp hành", "r:2"),
    ("Viên chức", "r:3"),
    ("Khác", "r:4"),
]


def test_exact_words_without_diacritics_or_case_win() -> None:
    assert match_option(GENDERS, "nu") == [1]
    assert match_option(GENDERS, "NỮ") == [1]
    assert match_option(GENDERS, "  nam ") == [0]
    assert match_option(GENDERS, "khong muon tra loi") == [2]
    assert match_option(GENDERS, "Không muốn trả lời!") == [2]


def test_a_word_in_several_options_matches_them_all() -> None:
    assert match_option(ROLES, "vien") == [0, 1, 2]
    assert match_option(ROLES, "ban chap hanh") == [1]


@pytest.mark.parametrize("answer", ["", "   ", "?!...", "👍"])
def test_empty_or_punctuation_only_matches_nothing(answer: str) -> None:
    assert match_option(ROLES, answer) == []


def test_a_single_letter_never_matches_by_containment() -> None:
    classes: list[tuple[str, str | None]] = [("Lớp A", "c:a"), ("Lớp B", "c:b")]
    assert match_option(classes, "a") == []
    assert match_option(classes, "B.") == []
    assert match_option([("A", "x"), ("Lớp A", "y")], "a") == [0]  # exact still works


def test_an_emoji_prefix_does_not_hide_the_words() -> None:
    districts: list[tuple[str, str | None]] = [
        ("📂 quận Ba Đình", "d:1"),
        ("📂 quận Hoàn Kiếm", "d:2"),
    ]
    assert match_option(districts, "ba dinh") == [0]
    assert match_option(districts, "Quận Hoàn Kiếm") == [1]
    assert match_option(districts, "ba") == [0]
    assert match_option(districts, "inh") == []  # whole words only


def test_a_tab_or_a_non_breaking_space_is_a_word_gap_too() -> None:
    assert split_text("aaaa\tbbbb", limit=7) == ["aaaa", "bbbb"]
    assert split_text("aaaa\u00a0bbbb", limit=7) == ["aaaa", "bbbb"]
