"""The workspace's catalog as journey validation sees it: one BatchGetItem per kind of
reference (audiences, templates, providers) and one Query for the declared events."""
from __future__ import annotations

from chalicelib import dynamo
from chalicelib.config import settings
from chalicelib.events import repo as events_repo
from chalicelib.journeys.validate import TemplateInfo
from chalicelib.models.audiences import AUDIENCE_SK, audience_pk
from chalicelib.models.channels import PROVIDER_PREFIX, TEMPLATE_PREFIX


class WorkspaceCatalog:
    def __init__(self, workspace_id: str):
        self.workspace_id = workspace_id

    def _get(self, table: str, keys: list[tuple[str, str]]) -> list[dict]:
        name = settings.table(table)
        return dynamo.batch_get({name: [dynamo.key(pk, sk) for pk, sk in keys]}, consistent=False)[name]

    def audiences(self, ids: set[str]) -> dict[str, str]:
        items = self._get("audiences", [(audience_pk(self.workspace_id, i), AUDIENCE_SK) for i in sorted(ids)])
        prefix = audience_pk(self.workspace_id, "")
        return {i["pk"]["S"][len(prefix):]: i.get("status", {}).get("S", "unknown") for i in items}

    def templates(self, ids: set[str]) -> dict[str, TemplateInfo]:
        items = self._get("channels", [(self.workspace_id, TEMPLATE_PREFIX + i) for i in sorted(ids)])
        return {i["sk"]["S"][len(TEMPLATE_PREFIX):]: TemplateInfo(i.get("channel", {}).get("S", ""),
                                                                   i.get("status", {}).get("S", ""))
                for i in items}

    def providers(self, names: set[str]) -> dict[str, str]:
        items = self._get("channels", [(self.workspace_id, PROVIDER_PREFIX + n) for n in sorted(names)])
        # a Kafka account is declared on the webhook channel; a kafka node needs that kind
        return {i["sk"]["S"][len(PROVIDER_PREFIX):]: "kafka" if i.get("provider_kind", {}).get("S") == "kafka"
                else i.get("channel", {}).get("S", "") for i in items}

    def event_names(self) -> set[str] | None:
        names = {d.name for d in events_repo.list_definitions(self.workspace_id)[0]}
        return names or None
