"""The types of the flows' parameters, as the Prefect UI shows them: Chinese choices for steps and
notice kinds (the English names accepted too), a period checked as YYYY-MM, the workspace one of
those configured. Kept apart from the vocabulary: the processes that check files need no pydantic."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from ducha.vocabulary import NoticeKind, Step
from ducha.workspace import configured_workspaces

# A period as a parameter (the Prefect UI checks it and shows the example).
PeriodText = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]
# As parameter types: pydantic (and so Prefect) accepts the English name or the Chinese word;
# the JSON schema, and so the Prefect UI, offers the Chinese words.
StepChoice = Annotated[Step, BeforeValidator(Step.lenient)]
KindChoice = Annotated[NoticeKind, BeforeValidator(NoticeKind.lenient)]


class WorkspaceCode(str):
    """A configured workspace's code: a choice in the Prefect UI (the list as it was when the
    deployments were made), checked against the configured workspaces when a run starts."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls._known, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(configured_workspaces())}

    @staticmethod
    def _known(code: str) -> str:
        known = configured_workspaces()
        if code not in known:
            raise ValueError(f"工作区“{code}”未配置，应为 {'、'.join(sorted(known))} 之一")
        return code
