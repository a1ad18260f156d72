"""What every config file's declaration shares (ducha.config reads them): unknown keys are
mistakes, and numbers and yes/no are taken as YAML writes them (`true` is not 1, "30" in quotes
is not 30)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Strict

FILE_SECTION = ConfigDict(extra="forbid")  # config files: unknown keys are mistakes
# numbers and yes/no as YAML writes them: `true` is not 1, "30" (quoted) is not 30
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]
