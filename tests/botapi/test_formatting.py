"""Telegram's formatting rules as the fake server applies them (see formatting.py)."""

from __future__ import annotations

import pytest

from tests.botapi.formatting import EntityParseError, parse_html, parse_markdown, parse_text
from tests.botapi.formatting import parse_markdown_v2 as mdv2


def test_html_entities_are_in_utf16_units_and_text_is_stripped() -> None:
    text, entities = parse_html('  😀 <b>Chào</b> <a href="https://x.vn/?a=1&amp;b=2">Lan</a> ')
    assert text == "😀 Chào Lan"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 8, "length": 3, "url": "https://x.vn/?a=1&b=2"},
    ]


def test_html_pre_code_language_and_unknown_ampersands() -> None:
    text, entities = parse_html('<pre><code class="language-python">x = 1 &lt; 2</code></pre>')
    assert text == "x = 1 < 2"
    assert entities == [{"type": "pre", "offset": 0, "length": 9, "language": "python"}]
    assert parse_html("A & B &nbsp;") == ("A & B &nbsp;", [])


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("dòng 1<br>dòng 2", 'Unsupported start tag "br" at byte offset 7'),
        ("<b>đậm", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
def test_html_errors_use_telegram_wording(markup: str, error: str) -> None:
    with pytest.raises(EntityParseError) as excinfo:
        parse_html(markup)
    assert str(excinfo.value) == error


def test_markdown_v2() -> None:
    text, entities = mdv2(r"*Đậm* _nghiêng_ __gạch__ ||ẩn|| `mã` [web](https://x.vn) 1\.5")
    assert text == "Đậm nghiêng gạch ẩn mã web 1.5"
    assert [e["type"] for e in entities] == [
        "bold", "italic", "underline", "spoiler", "code", "text_link",
    ]  # fmt: skip
    with pytest.raises(EntityParseError, match=r"Character '\.' is reserved"):
        mdv2("Xong.")
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity"):
        mdv2("*đậm")


def test_legacy_markdown_and_mentions() -> None:
    assert parse_markdown("*b* _i_")[0] == "b i"
    with pytest.raises(EntityParseError, match="Can't find end of the entity"):
        parse_markdown("@union_bot")
    _, entities = parse_text('<a href="tg://user?id=42">Lan</a>', "HTML")
    assert entities[0]["type"] == "text_mention" and entities[0]["user"]["id"] == 42
    assert parse_text("  plain  ", None) == ("plain", [])
