"""Telegram's message-formatting rules, applied the way the Bot API server applies them.

Why this exists: a bot that builds HTML or Markdown by string concatenation works in a
unit test with a mocked ``send_message`` and then fails in production with
``400 Bad Request: can't parse entities: ...`` the first time a member's name contains
``<``, ``&`` or ``_``. The fake server in :mod:`tests.botapi.telegram` runs every text and
caption through :func:`parse_text` so those bugs fail in our tests too, with Telegram's own
wording, and so the server can answer with the entity list and plain text Telegram would.

The parsers follow the behaviour of tdlib's ``telegram-bot-api`` (the real server):

* HTML: only Telegram's tag set is allowed (``<br>``, ``<p>``, ``<div>`` are errors),
  tags must nest properly, and only ``&lt; &gt; &amp; &quot;`` plus numeric entities are
  decoded; an ``&`` that starts no known entity stays a literal ``&``.
* MarkdownV2: the characters ``_*[]()~`>#+-=|{}.!`` are reserved outside code and must be
  escaped with a backslash unless used as markup.
* Markdown (legacy): ``*bold*``, ``_italic_``, `` `code` ``, ```` ```pre``` ```` and
  ``[text](url)``; an unpaired marker (typically the ``_`` of a username) is an error.

Offsets and lengths of entities are in UTF-16 code units, as in the Bot API. Leading and
trailing whitespace is stripped from the result, as Telegram does. This is a faithful-enough
re-implementation for tests, not a byte-for-byte port: the error *kinds* and wording match
Telegram, byte offsets in messages may occasionally differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EntityParseError",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """A formatting error; ``str(exc)`` is the part after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (the unit of Bot API entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _entity(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "offset": offset, "length": length, **extra}


def _link(offset: int, length: int, url: str) -> dict[str, Any]:
    """A ``text_link``, or a ``text_mention`` for ``tg://user?id=N`` (the server fills in the
    user's real name when it knows her)."""
    match = re.fullmatch(r"tg://user\?id=(\d+)", url.strip())
    if match:
        user = {"id": int(match.group(1)), "is_bot": False, "first_name": "User"}
        return _entity("text_mention", offset, length, user=user)
    return _entity("text_link", offset, length, url=url)


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip surrounding whitespace the way Telegram does, shifting/cutting entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead16 = utf16_len(text[: len(text) - len(text.lstrip())])
    total16 = utf16_len(stripped)
    kept = []
    for ent in entities:
        start = max(ent["offset"] - lead16, 0)
        end = min(ent["offset"] + ent["length"] - lead16, total16)
        if end > start:
            kept.append({**ent, "offset": start, "length": end - start})
    return stripped, kept


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "span",
        "tg-spoiler", "tg-emoji", "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));")


def _decode_html_entity(text: str, index: int) -> tuple[str, int] | None:
    match = _HTML_ENTITY_RE.match(text, index)
    if not match:
        return None
    dec, hexa, name = match.groups()
    if name is not None:
        if name not in _HTML_NAMED:
            return None
        return _HTML_NAMED[name], match.end()
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    offset16: int


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-HTML into ``(plain_text, entities)`` or raise :class:`EntityParseError`."""
    out: list[str] = []
    out16 = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                out16 += utf16_len(decoded[0])
                i = decoded[1]
                continue
        if char != "<":
            out.append(char)
            out16 += utf16_len(char)
            i += 1
            continue

        tag_at = i
        i += 1
        if i < n and text[i] == "/":  # end tag
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            name = text[i + 1 : j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise EntityParseError(
                    f"Unclosed end tag at byte offset {_byte_offset(text, tag_at)}"
                )
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(text, tag_at)}"
                )
            top = stack.pop()
            if name and name != top.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, tag_at)}, "
                    f'expected "</{top.name}>", found "</{name}>"'
                )
            i = j + 1
            if out16 > top.offset16:
                _close_html_tag(top, out16 - top.offset16, entities)
            continue

        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(
                f"Unclosed start tag at byte offset {_byte_offset(text, tag_at)}"
            )
        name = text[i:j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, tag_at)}'
            )
        attrs, j = _parse_html_attrs(text, j, name, tag_at)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, tag_at)}"
            )
        stack.append(_OpenTag(name, attrs, out16))
        i = j + 1

    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"'
        )
    for ent in entities:
        ent.pop("_language", None)
    plain, entities = _strip("".join(out), entities)
    return plain, _sorted(entities)


def _parse_html_attrs(text: str, j: int, name: str, tag_at: int) -> tuple[dict[str, str], int]:
    """Parse attributes from ``text[j:]`` up to the closing ``>``; return them and its index."""
    n = len(text)
    attrs: dict[str, str] = {}

    def unclosed() -> EntityParseError:
        return EntityParseError(
            f'Unclosed start tag "{name}" at byte offset {_byte_offset(text, tag_at)}'
        )

    while True:
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise unclosed()
        if text[j] == ">":
            return attrs, j
        k = j
        while k < n and not text[k].isspace() and text[k] not in "=>/\"'":
            k += 1
        attr = text[j:k].lower()
        if not attr:
            raise EntityParseError(
                f'Empty attribute name in the tag "{name}" at byte offset '
                f"{_byte_offset(text, tag_at)}"
            )
        j = k
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise unclosed()
        if text[j] != "=":
            attrs[attr] = ""
            continue
        j += 1
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise unclosed()
        if text[j] in "\"'":
            quote = text[j]
            j += 1
            value: list[str] = []
            while j < n and text[j] != quote:
                decoded = _decode_html_entity(text, j) if text[j] == "&" else None
                if decoded is not None:
                    value.append(decoded[0])
                    j = decoded[1]
                else:
                    value.append(text[j])
                    j += 1
            if j >= n:
                raise unclosed()
            j += 1
            attrs[attr] = "".join(value)
        else:
            k = j
            while k < n and (text[k].isalnum() or text[k] in ".-"):
                k += 1
            if k < n and not text[k].isspace() and text[k] != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, k)}"
                )
            attrs[attr] = text[j:k].lower()
            j = k


def _close_html_tag(tag: _OpenTag, length: int, entities: list[dict[str, Any]]) -> None:
    offset = tag.offset16
    if tag.name in _HTML_SIMPLE:
        entities.append(_entity(_HTML_SIMPLE[tag.name], offset, length))
    elif tag.name == "a":
        href = tag.attrs.get("href", "")
        if href:
            entities.append(_link(offset, length, href))
    elif tag.name == "tg-emoji":
        emoji_id = tag.attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(_entity("custom_emoji", offset, length, custom_emoji_id=emoji_id))
    elif tag.name == "code":
        # <pre><code class="language-x">: the code entity becomes a pre when <pre> closes.
        entities.append(_entity("code", offset, length))
        language = tag.attrs.get("class", "").removeprefix("language-")
        if language:
            entities[-1]["_language"] = language
    elif tag.name == "pre":
        last = entities[-1] if entities else None
        if (
            last
            and last["type"] == "code"
            and (last["offset"], last["length"]) == (offset, length)
        ):
            language = last.pop("_language", None)
            last["type"] = "pre"
            if language:
                last["language"] = language
        else:
            entities.append(_entity("pre", offset, length))
    elif tag.name == "blockquote":
        kind = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
        entities.append(_entity(kind, offset, length))
    # tg-time: accepted, no entity modelled.


# --------------------------------------------------------------------------------------------
# MarkdownV2
# --------------------------------------------------------------------------------------------

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
    "`": "Code",
    "```": "Pre",
}
_MDV2_TYPES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into ``(plain_text, entities)`` or raise :class:`EntityParseError`."""
    out: list[str] = []
    out16 = 0
    stack: list[tuple[str, int, int, str]] = []  # (marker, offset16, index in text, language)
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)

    def emit(chars: str) -> None:
        nonlocal out16
        out.append(chars)
        out16 += utf16_len(chars)

    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            emit(text[i + 1])
            i += 2
            continue
        top = stack[-1][0] if stack else None
        if top in ("`", "```"):
            if text.startswith(top, i):
                marker, start16, _, language = stack.pop()
                if out16 > start16:
                    ent = _entity("code" if marker == "`" else "pre", start16, out16 - start16)
                    if language:
                        ent["language"] = language
                    entities.append(ent)
                i += len(marker)
            else:
                emit(char)
                i += 1
            continue
        if char not in _MDV2_RESERVED:
            emit(char)
            i += 1
            continue

        if char == "`":
            marker = "```" if text.startswith("```", i) else "`"
            opened_at = i
            i += len(marker)
            language = ""
            if marker == "```":  # optional language on the opening line
                eol = text.find("\n", i)
                if eol != -1 and re.fullmatch(r"[A-Za-z0-9_+#-]*", text[i:eol]):
                    language = text[i:eol]
                    i = eol + 1
            stack.append((marker, out16, opened_at, language))
            continue
        if char == "[" or (char == "!" and text.startswith("![", i)):
            i += 1 if char == "[" else 2
            stack.append(("[", out16, i - 1, ""))
            continue
        if char == "]" and top == "[":
            _, start16, _, _ = stack.pop()
            if i + 1 >= n or text[i + 1] != "(":
                i += 1  # "[text]" without a URL is plain text
                continue
            close = i + 2
            url: list[str] = []
            while close < n and text[close] != ")":
                if text[close] == "\\" and close + 1 < n:
                    close += 1
                url.append(text[close])
                close += 1
            if close >= n:
                raise EntityParseError(
                    f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}"
                )
            if out16 > start16:
                entities.append(_link(start16, out16 - start16, "".join(url)))
            i = close + 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # blockquote line marker; the entity is not modelled
            continue
        marker = None
        if char == "_":
            marker = "__" if text.startswith("__", i) else "_"
        elif char == "|" and text.startswith("||", i):
            marker = "||"
        elif char in "*~":
            marker = char
        if marker is None:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        if top == marker:
            _, start16, _, _ = stack.pop()
            if out16 > start16:
                entities.append(_entity(_MDV2_TYPES[marker], start16, out16 - start16))
        else:
            stack.append((marker, out16, i, ""))
        i += len(marker)

    if stack:
        marker, _, index, _ = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[marker]} entity at byte offset "
            f"{_byte_offset(text, index)}"
        )
    plain, entities = _strip("".join(out), entities)
    return plain, _sorted(entities)


# --------------------------------------------------------------------------------------------
# Markdown (legacy)
# --------------------------------------------------------------------------------------------

_MD_TYPES = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown into ``(plain_text, entities)`` or raise EntityParseError."""
    out: list[str] = []
    out16 = 0
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            out16 += 1
            i += 2
            continue
        if char not in "_*`[":
            out.append(char)
            out16 += utf16_len(char)
            i += 1
            continue
        start_at = i
        if char == "[":
            close = text.find("]", i + 1)
            if close == -1:
                raise EntityParseError(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(text, start_at)}"
                )
            label = text[i + 1 : close]
            url = ""
            i = close + 1
            if i < n and text[i] == "(":
                end = text.find(")", i)
                if end != -1:
                    url = text[i + 1 : end]
                    i = end + 1
            out.append(label)
            if url:
                entities.append(_link(out16, utf16_len(label), url))
            out16 += utf16_len(label)
            continue
        marker = "```" if text.startswith("```", i) else char
        end = text.find(marker, i + len(marker))
        if end == -1:
            raise EntityParseError(
                "Can't find end of the entity starting at byte offset "
                f"{_byte_offset(text, start_at)}"
            )
        inner = text[i + len(marker) : end]
        if inner:
            entities.append(_entity(_MD_TYPES[marker], out16, utf16_len(inner)))
        out.append(inner)
        out16 += utf16_len(inner)
        i = end + len(marker)
    plain, entities = _strip("".join(out), entities)
    return plain, _sorted(entities)


# --------------------------------------------------------------------------------------------


def parse_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (or explicit ``entities``) the way sendMessage does.

    Raises :class:`EntityParseError` for malformed markup and :class:`ValueError` for an
    unknown parse mode.
    """
    mode = (parse_mode or "").strip()
    if not mode:
        plain, ents = _strip(text, [dict(e) for e in entities or []])
        return plain, ents
    lowered = mode.lower()
    if lowered == "html":
        return parse_html(text)
    if lowered == "markdownv2":
        return parse_markdown_v2(text)
    if lowered == "markdown":
        return parse_markdown(text)
    raise ValueError(f"Unsupported parse_mode {parse_mode!r}")
