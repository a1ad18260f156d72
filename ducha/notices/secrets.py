"""Secrets in channel addresses: ${ENV} and ${secret:block} references resolved only when a message
is sent, and every value handed out masked wherever text leaves ducha.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
import urllib.request

from ducha.errors import UserError

_REF = re.compile(r"\$\{([^}]+)\}")


class Secrets:
    """Resolves ${…} references and remembers every value it handed out, to mask it."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            ref = match.group(1).strip()
            if ref.startswith("secret:"):
                value = _prefect_secret(ref.removeprefix("secret:"))
            else:
                value = os.environ.get(ref)
                if value is None:
                    raise UserError(f"环境变量 {ref} 未设置（渠道地址中引用了它）")
            self.remember(value)
            return value

        return _REF.sub(one, text)

    def remember(self, value: str) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)
                self._values.add(urllib.parse.quote(value, safe=""))
                self._values.add(urllib.parse.quote_plus(value))

    def mask(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, "****")
        return text


def _prefect_secret(name: str) -> str:
    try:
        from prefect.blocks.system import Secret

        return str(Secret.load(name).get())
    except Exception as exc:  # no server, no block: say which, never the value
        raise UserError(f"读取 Prefect Secret 块“{name}”失败：{type(exc).__name__}") from None


def references(text: str) -> list[str]:
    return [m.group(1).strip() for m in _REF.finditer(text)]


def masked_url(url: str) -> str:
    """A configured URL for display: references stay references, passwords hidden."""
    return re.sub(r"(://[^/@:]*:)[^@/]+@", r"\1****@", url)
