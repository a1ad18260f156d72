"""Text written by people ducha does not control (what units type into their reports, the names
of the files they send), made harmless for each place it is shown.

Whatever a unit writes must not become the office's words: no link, image, heading or HTML in a
Markdown bot message sent in the supervision office's name; no control character or terminal
escape that rewrites what a clerk sees; no layout of its own (a newline in a quoted problem
would start a new paragraph of the notice). HTML needs nothing more than jinja2's autoescaping,
which stays on for every .html template.

    plain(text)      plain-text channels (group bots' text, e-mail text): control and invisible
                     characters removed, web addresses defanged (http：//…, no auto-link)
    markdown(text)   the same, and every character Markdown gives meaning to made its
                     full-width twin (［］（）＜＞！＊＿｀＃｜～), which reads the same in Chinese
    terminal(text)   for a terminal line: control characters shown as \\n, \\x1b …, nothing hidden
    quote(text, n)   a short inline quote: one line, at most n characters and “…”
    readable_name(name)  a file name as the file system gave it (bytes that are not UTF-8
                     arrive as surrogates) in the form shown and stored: UTF-8, else GBK (a
                     Windows zip unpacked on Linux), else with replacement characters
    for_channel(value, body_format)  every string in a notice's data made safe for its format
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from typing import Any

# C0 and C1 controls (but tab and newline), DEL; bidirectional overrides and isolates, which
# reorder what is shown; zero-width characters, which hide text inside words.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# a scheme (http://, javascript:, data: …) or a www. host: what clients turn into links
_SCHEME = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]{1,20}):(?=//|[^\s:]*[\w%])", re.ASCII)
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE | re.ASCII)  # after 汉字 too
_MARKDOWN = str.maketrans({
    "[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "!": "！", "*": "＊",
    "_": "＿", "`": "｀", "#": "＃", "|": "｜", "~": "～", "\\": "＼",
})  # fmt: skip
# Markdown blocks a line can open: lists (-, +, 1.), rules (---), quotes and headings are
# covered by the table above
_LINE_START = re.compile(r"^(\s*)([-+]|\d+\.)(?=\s)", re.MULTILINE)


def _visible(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text))
    return _HIDDEN.sub("", _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def _defanged(text: str) -> str:
    text = _SCHEME.sub(lambda m: f"{m.group(1)}：", text)
    return _WWW.sub(lambda m: f"{m.group(1)}。", text)


def plain(text: object) -> str:
    """For plain-text channels."""
    text = str(text)
    return _plain_short(text) if len(text) <= _SHORT else _defanged(_visible(text))


_SHORT = 200  # the texts a page prints again and again: names, dates, labels


@functools.lru_cache(maxsize=4096)
def _plain_short(text: str) -> str:
    return _defanged(_visible(text))


def markdown(text: object) -> str:
    """For Markdown channels (DingTalk, WeCom, Feishu bots)."""
    safe = plain(text).translate(_MARKDOWN)
    return _LINE_START.sub(
        lambda m: m.group(1) + m.group(2).replace("-", "－").replace("+", "＋").replace(".", "．"),
        safe,
    )


def terminal(text: object) -> str:
    """For one line of a terminal: every control character shown, none acted on."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or _HIDDEN.match(ch):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def quote(text: object, limit: int = 200) -> str:
    """A short inline quote of user text: one line, at most `limit` characters."""
    one_line = " ".join(_visible(str(text)).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def terminal_lines(text: object) -> str:
    """For lines a command prints: control characters shown, none acted on; newlines kept
    (each line was made by ducha; what users wrote is passed through terminal() first)."""
    return "\n".join(terminal(line) for line in str(text).split("\n"))


def readable_name(name: str) -> str:
    """A file or path name in the form shown and stored (never with lone surrogates, which
    neither DuckDB nor a terminal nor a JSON encoder takes)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    raw = os.fsencode(name)  # the bytes as the file system holds them
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


class Trusted(str):
    """Text of the office's own (a link to its briefing): left as it is by for_channel."""


def for_channel(value: Any, body_format: str) -> Any:
    """Every string in a notice's data (dicts, lists, tuples, dataclass-free values) made
    safe for a channel: Markdown-neutral for "markdown", plain for "text" and "html" (HTML
    is autoescaped as well). Numbers, dates and Trusted text are left as they are."""
    clean = markdown if body_format == "markdown" else plain
    return _walk(value, clean)


def _walk(value: Any, clean: Any) -> Any:
    if isinstance(value, Trusted) or not isinstance(value, (str, dict, list, tuple)):
        return value
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _walk(v, clean) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_walk(v, clean) for v in value))
    return type(value)(_walk(v, clean) for v in value)
