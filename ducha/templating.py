"""Shared settings of the jinja2 environments (notices, receipts, the briefing)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2


@cache
def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs: every flow run is a new process, and compiling
    the notice and briefing templates costs about 0.1 s each time. The directory is
    $DUCHA_TEMPLATE_CACHE, else jinja2's own per-user directory under the system temp
    directory (created private, refused if another user owns it). Entries are keyed by the
    template's path and checked against its source, so an edited template is compiled
    again. None (no cache) when no such directory can be used."""
    from ducha.environment import current

    configured = current().template_cache  # DUCHA_TEMPLATE_CACHE
    try:
        if configured:
            Path(configured).mkdir(parents=True, exist_ok=True)
            return jinja2.FileSystemBytecodeCache(configured)
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None
