"""Secrets in channel addresses: ${ENV} and ${secret:block} references resolved only when a message
is sent, each value percent-encoded for its place in the URL (so that apprise, and ducha's own
bots, get exactly the secret), and every value handed out masked, in every form it can take,
wherever text leaves ducha.

Masking. A value of at least MIN_LENGTH characters is masked wherever it appears: raw, percent-
encoded (any mix of encoded and plain characters, either case of hex digits, encoded twice, a
space as "+"), escaped for JSON, HTML or a Python repr, and every piece a parser could have cut
it into at the characters URLs use as delimiters (`@ / : # & % + ; ? = ,`, backslash, spaces),
when that piece is itself at least MIN_LENGTH long. A shorter value (or piece) cannot be masked
as a substring without mangling ordinary text (a secret "50" would turn "HTTP 500" into
"HTTP ****0"), so it is masked only (a) where it stands as a word of its own (not inside a longer
word or number), which catches a gateway that echoes a token in its error, and (b) structurally:
in any URL in the text, the value at each place where a reference was resolved (the password of
any user:password@, the user or host that held a reference, the path segment after the literal
segment that precedes a reference, the value of a query key that held one) is masked whatever it
is. A piece shorter than MIN_LENGTH of a longer value is masked only structurally (a one-letter
piece as a word would mask every "a" in an English error).
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from dataclasses import dataclass

from ducha.errors import UserError

_REF = re.compile(r"\$\{([^}]+)\}")
MASK = "****"
MIN_LENGTH = 4  # values (and cut pieces) at least this long are masked wherever they appear
# Characters at which a URL parser cuts text written into a URL unencoded.
_CUTS = frozenset("@/:#&%+;?=,\\") | frozenset(" \t\r\n")
_MAX_CUTS = 12  # beyond this many cut points, only prefixes, suffixes and single pieces


@dataclass(frozen=True)
class Place:
    """Where a reference stands in its URL: part is user, password, host, path, query, fragment or
    other; context is the literal text that leads to it there (the scheme for user and host, the
    literal segment before it for a path segment, the key for a query value; empty when none)."""

    part: str
    context: str = ""


class Secrets:
    """Resolves ${…} references (each value encoded for its place) and remembers every value it
    handed out, and where, to mask it."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._places: set[Place] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._structural: list[tuple[re.Pattern[str], str]] = []

    def resolve(self, text: str, *, path_slashes: bool = False) -> str:
        """The URL with each reference replaced by its value, percent-encoded for its place.
        path_slashes: the URL is one of ducha's own bots, which keep an encoded "/" inside a path
        segment; apprise cannot (it decodes the path before splitting it), so there a value with
        "/" or "\\" in a path segment is refused rather than sent to the wrong address."""
        places = places_of(text)
        values: list[str] = []
        for match, place in zip(_REF.finditer(text), places, strict=True):
            ref = match.group(1).strip()
            value = _lookup(ref)
            if place.part == "path" and not path_slashes and ("/" in value or "\\" in value):
                raise UserError(
                    f"{_shown(ref)} 的值含有“/”或“\\”，apprise 无法在地址的路径中原样传递它"
                    "（会被拆成两段）：请换一个不含这些字符的密钥，或把它写在查询参数中"
                )
            self.remember(value, place)
            values.append(urllib.parse.quote(value, safe=""))
        it = iter(values)
        return _REF.sub(lambda _: next(it), text)

    def remember(self, value: str, place: Place | None = None) -> None:
        if not value and place is None:
            return
        with self._lock:
            if value:
                self._values.add(value)
            if place is not None:
                self._places.add(place)
            self._pattern = None

    def mask(self, text: str) -> str:
        if not text:
            return text
        pattern, structural = self._compiled()
        text = _USERINFO.sub(r"\1" + MASK, text)
        for regex, replacement in structural:
            text = regex.sub(replacement, text)
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return text

    def _compiled(self) -> tuple[re.Pattern[str] | None, list[tuple[re.Pattern[str], str]]]:
        with self._lock:
            if self._pattern is None and (self._values or self._places):
                long, short = set(), set()
                for value in self._values:
                    if len(value) >= MIN_LENGTH:
                        long |= {p for p in _pieces(value) if len(p) >= MIN_LENGTH}
                    else:
                        short.add(value)
                alternatives = [_any_form(v) for v in sorted(long, key=len, reverse=True)]
                alternatives += [
                    rf"(?<!\w){_any_form(v)}(?!\w)" for v in sorted(short, key=len, reverse=True)
                ]
                # a pattern that never matches when there is nothing to mask but places
                self._pattern = re.compile("|".join(alternatives) or r"(?!x)x")
                self._structural = [
                    s for p in sorted(self._places, key=repr) if (s := _structural(p))
                ]
            return self._pattern, list(self._structural)


def _lookup(ref: str) -> str:
    if ref.startswith("secret:"):
        return _prefect_secret(ref.removeprefix("secret:").strip())
    value = os.environ.get(ref)
    if value is None:
        raise UserError(f"环境变量 {ref} 未设置（渠道地址中引用了它）")
    return value


def _shown(ref: str) -> str:
    return (
        f"Prefect Secret 块“{ref.removeprefix('secret:').strip()}”"
        if ref.startswith("secret:")
        else f"环境变量 {ref}"
    )


def prefect_api_url() -> str | None:
    """The Prefect server this process talks to (PREFECT_API_URL, from the environment or the
    active Prefect profile), or None: then Prefect would start a temporary server of its own."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


NO_SERVER = (
    "无法读取 Prefect Secret 块“{name}”：没有配置 Prefect 服务器（未设置 PREFECT_API_URL）。"
    "请先用 ducha server 启动服务器并设置 PREFECT_API_URL=http://127.0.0.1:4200/api，"
    "或把密钥放在环境变量中、用 ${{环境变量名}} 引用"
)


def _prefect_secret(name: str) -> str:
    """A Prefect Secret block's value, from the configured Prefect server only: without one,
    Prefect would start a temporary server in this process (10-15 s, a page of tracebacks on
    SQLite) just to find no block there."""
    api = prefect_api_url()
    if not api:
        raise UserError(NO_SERVER.format(name=name))
    try:
        from prefect.blocks.system import Secret

        return str(Secret.load(name).get())
    except ValueError:  # Prefect's "Unable to find block document named …"
        raise UserError(
            f"Prefect 服务器 {api} 上没有名为“{name}”的 Secret 块（用 prefect block create secret 创建）"
        ) from None
    except Exception as exc:  # unreachable server, refused: say which, never the value
        raise UserError(
            f"读取 Prefect Secret 块“{name}”失败：无法从 Prefect 服务器 {api} 读取（{type(exc).__name__}），请确认服务器正在运行"
        ) from None


def require_sources(urls: list[str | None]) -> None:
    """Stop before anything is written or sent when a ${secret:…} reference cannot be read in
    this process at all (no Prefect server configured): every message to it would fail."""
    names = [
        ref.removeprefix("secret:").strip()
        for url in dict.fromkeys(u for u in urls if u)
        for ref in references(url)
        if ref.startswith("secret:")
    ]
    if names and not prefect_api_url():
        raise UserError(NO_SERVER.format(name=names[0]))


def references(text: str) -> list[str]:
    return [m.group(1).strip() for m in _REF.finditer(text)]


def masked_url(url: str) -> str:
    """A configured URL for display: references stay references, passwords hidden."""
    return re.sub(r"(://[^/@:]*:)[^@/]+@", r"\1****@", url)


# ------------------------------------------------------------------ where a reference stands


def places_of(template: str) -> list[Place]:
    """The place of each ${…} reference of a URL template, in order (as apprise splits a URL:
    the authority ends at the first "/", "?" or "#"; the user ends at its first "@", the user's
    name at its first ":"; query pairs are split at "&" and ";")."""
    refs = list(_REF.finditer(template))
    if not refs:
        return []
    # each reference becomes one private-use character, numbered in order, and the URL is split
    marks = {chr(0xF0000 + i): i for i in range(len(refs))}
    pieces, last = [], 0
    for i, m in enumerate(refs):
        pieces += [template[last : m.start()], chr(0xF0000 + i)]
        last = m.end()
    marked = "".join([*pieces, template[last:]])
    found: dict[int, Place] = {}

    def put(text: str, place: Place) -> None:
        for ch in text:
            if ch in marks:
                found[marks[ch]] = place

    def literal(text: str) -> str:
        return "" if any(ch in marks for ch in text) else text

    scheme, sep, rest = marked.partition("://")
    if not sep:
        put(marked, Place("other"))
        return [found.get(i, Place("other")) for i in range(len(refs))]
    scheme_name = literal(scheme).lower()
    put(scheme, Place("other"))
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.partition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        put(user, Place("user", scheme_name))
        put(password, Place("password", scheme_name))
    else:
        hostport = authority
    put(hostport, Place("host", scheme_name))
    head, hash_, fragment = tail.partition("#")
    path, question, query = head.partition("?")
    put(fragment, Place("fragment"))
    segments = path.split("/")
    for i, segment in enumerate(segments):
        before = segments[i - 1] if i > 1 else hostport  # the first segment follows the host
        put(segment, Place("path", literal(before)))
    for pair in re.split(r"[&;]", query):
        key, equals, value = pair.partition("=")
        put(key, Place("other"))
        put(value, Place("query", literal(key).lower()))
    return [found.get(i, Place("other")) for i in range(len(refs))]


# ------------------------------------------------------------------ masking


# the password of any scheme://user:password@ (never more than up to its "@")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:?#]*:)[^\s/@?#]+(?=@)")
_VALUE_END = r"[^\s/?#&;'\"<>)\]]+"


def _structural(place: Place) -> tuple[re.Pattern[str], str] | None:
    """The regex (and replacement) masking whatever stands at a place of a URL in text."""
    context = re.escape(place.context)
    if place.part == "user" and place.context:
        return re.compile(rf"(?i)({context}://)[^\s/@:?#]+(?=(?::[^\s/@?#]*)?@)"), r"\1" + MASK
    if place.part == "host" and place.context:
        return re.compile(rf"(?i)({context}://(?:[^\s/@?#]*@)?)[^\s/:?#]+"), r"\1" + MASK
    if place.part == "path" and place.context:
        return re.compile(rf"({context}/){_VALUE_END}"), r"\1" + MASK
    if place.part == "query" and place.context:
        return re.compile(rf"(?i)([?&;]{context}=){_VALUE_END}"), r"\1" + MASK
    return None


def _pieces(value: str) -> set[str]:
    """The value and every piece a parser could leave of it, cutting at delimiter characters:
    each text between two cut points (or an end)."""
    cuts = [i for i, ch in enumerate(value) if ch in _CUTS]
    bounds = [-1, *cuts, len(value)]
    pieces = {value}
    if len(cuts) <= _MAX_CUTS:
        pairs = [(a, b) for i, a in enumerate(bounds) for b in bounds[i + 1 :]]
    else:
        pairs = [(-1, b) for b in bounds[1:]] + [(a, len(value)) for a in bounds[:-1]]
        pairs += list(zip(bounds, bounds[1:], strict=False))
    for a, b in pairs:
        pieces.add(value[a + 1 : b])
    return {p for p in pieces if p}


def _any_form(value: str) -> str:
    """A regex matching the value however each of its characters is written: as itself,
    percent-encoded (either case, or encoded twice), a space as "+", escaped for JSON, HTML or
    a Python repr."""
    return "".join(_char_forms(ch) for ch in value)


def _hex(byte: int) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{byte:02X}")


def _char_forms(ch: str) -> str:
    encoded = ch.encode("utf-8", "surrogatepass")
    forms = [re.escape(ch), "".join(f"%{_hex(b)}" for b in encoded),
             "".join(f"%25{_hex(b)}" for b in encoded)]  # fmt: skip
    code = ord(ch)
    if ch == " ":
        forms.append(r"\+")
    if code < 0x10000:
        forms.append(rf"\\u{_hex(code >> 8)}{_hex(code & 0xFF)}")  # JSON with ensure_ascii
    json_escapes = {'"': r'\\"', "\\": r"\\\\", "\n": r"\\n", "\t": r"\\t", "\r": r"\\r",
                    "'": r"\\'", "/": r"\\/"}  # fmt: skip
    if ch in json_escapes:
        forms.append(json_escapes[ch])
    html = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
    if ch in html:
        forms.append(re.escape(html[ch]))
    if ch in "\"'&<>":
        forms.append(rf"&\#(?:{code}|[xX]0*{code:x}|[xX]0*{code:X});")
    return "(?:" + "|".join(forms) + ")"
