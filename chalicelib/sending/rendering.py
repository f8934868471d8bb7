"""Rendering before the claim: a send that names a template is rendered for each
recipient from the stored template and profile, right before the provider call.

Per batch: one GetItem per template named; the recipients' profiles are the ones the
sender read for the batch (``sender.Batch``: one BatchGetItem shared with the address
lookup), or one BatchGetItem here when called alone; the rest is ``templates.render`` (pure). A template that is not approved, gone,
or that fails for a recipient (a missing value, a limit) fails that message with the
reason: nothing unapproved is ever sent, and one recipient's missing value never stops
the others. A send without a template carries its rendered content itself.

Links marked ``| short_link`` become the recipient's own short links (a code derived
from the message key and the URL, so a retry renders the same one); they are stored,
each with a conditional put, once the message rendered, before the claim.

An SMS that carries a signature (the template's or the content's ``signature``, else the
provider account's ``sign_name``) fails unless that signature is approved: one
BatchGetItem per workspace for the batch's signatures.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.links import service as links
from chalicelib.profiles import repo as profiles_repo
from chalicelib.profiles.schemas import CHANNELS
from chalicelib.sending import repo_templates, signature_service, templates, unsubscribe
from chalicelib.sending.messages import MessageKey

if TYPE_CHECKING:
    from chalicelib.sending.sender import Job


@dataclass(frozen=True)
class Failed:
    reason: str


Rendered = dict[str, Any]


def render_jobs(jobs: Sequence["Job"], now: datetime | None = None, *,
                profiles: Mapping[tuple[str, str], profiles_repo.ProfileRecord] | None = None,
                ) -> Mapping[MessageKey, Rendered | Failed]:
    """The content to send for each job (by message key), or why it cannot be sent.
    ``profiles`` (by workspace and user id): the profiles the sender already read for the
    batch (absent: no profile); without it, they are read here."""
    now = now or clock.now()
    out: dict[MessageKey, Rendered | Failed] = {}
    made: dict[MessageKey, links.RecipientLinks] = {}
    by_template: dict[tuple[str, str], list["Job"]] = defaultdict(list)
    for job in jobs:
        if job.message.template_id is None:
            out[job.key] = dict(job.recipient.content)
        else:
            by_template[(job.message.workspace_id, job.message.template_id)].append(job)
    for (workspace_id, template_id), mine in by_template.items():
        template = repo_templates.get(workspace_id, template_id)
        if template is None or not templates.sendable(template):
            state = "gone" if template is None else template.status.value
            reason = f"template {template_id} is not approved ({state}); nothing unapproved is sent"
            out.update({job.key: Failed(reason) for job in mine})
            continue
        if template.spec.channel != mine[0].message.channel:
            out.update({job.key: Failed(f"template {template_id} is for {template.spec.channel}, "
                                        f"not {mine[0].message.channel}") for job in mine})
            continue
        if profiles is None:
            found = profiles_repo.read_profiles(workspace_id, sorted({job.recipient.user_id for job in mine}))
        else:
            found = {job.recipient.user_id: profiles[(workspace_id, job.recipient.user_id)] for job in mine
                     if (workspace_id, job.recipient.user_id) in profiles}
        for job in mine:
            made[job.key] = _links_of(job, now)
            out[job.key] = _render_one(template, found.get(job.recipient.user_id), job, made[job.key])
    _check_signatures(jobs, out)
    _store_links(made, out)
    _one_click_unsubscribe(jobs, out)
    return out


def unsubscribe_url(job: "Job") -> str | None:
    """The signed unsubscribe link of the message's address (None: no address)."""
    if not job.recipient.to:
        return None
    m = job.message
    return unsubscribe.link_for(unsubscribe.Subscription(m.workspace_id, m.channel, job.recipient.to,
                                                         job.recipient.user_id))


def _one_click_unsubscribe(jobs: Sequence["Job"], out: dict[MessageKey, Rendered | Failed]) -> None:
    """RFC 8058: every non-transactional email carries ``List-Unsubscribe`` (its signed
    link) and ``List-Unsubscribe-Post`` in ``content["headers"]``, which the email adapters
    send as the message's headers."""
    for job in jobs:
        content = out.get(job.key)
        if job.message.channel != "email" or job.message.transactional or not isinstance(content, dict):
            continue
        url = unsubscribe_url(job)
        if url is not None:
            content["headers"] = {**dict(content.get("headers") or {}), **unsubscribe.email_headers(url)}


def _links_of(job: "Job", now: datetime) -> links.RecipientLinks:
    m = job.message
    return links.RecipientLinks(workspace_id=m.workspace_id, user_id=job.recipient.user_id, message_key=str(job.key),
                                created_at=clock.iso(now), task_id=m.task_id, journey_id=m.journey_id,
                                node_id=m.node_id)


def _store_links(made: Mapping[MessageKey, links.RecipientLinks], out: dict[MessageKey, Rendered | Failed]) -> None:
    """Store the short links of the messages that will be sent; a message whose link code
    is another link's fails rather than send someone else's link."""
    owners = {link.code: key for key, found in made.items() if not isinstance(out[key], Failed)
              for link in found.links.values()}
    pending = [link for key, found in made.items() if not isinstance(out[key], Failed) for link in found.links.values()]
    for link in links.store(pending):
        out[owners[link.code]] = Failed(f"the short link code for {link.url} is taken; the message is not sent")


def signature_of(job: "Job", content: Mapping[str, Any]) -> str | None:
    """The SMS signature a message carries: its own, else its provider account's ``sign_name``."""
    if job.message.channel != "sms":
        return None
    name = content.get("signature") or job.message.provider.settings.get("sign_name")
    return str(name) if name else None


def _check_signatures(jobs: Sequence["Job"], out: dict[MessageKey, Rendered | Failed]) -> None:
    """Fail, with the reason, each rendered SMS whose signature is not approved."""
    wanted: dict[str, dict[MessageKey, str]] = defaultdict(dict)
    for job in jobs:
        outcome = out.get(job.key)
        name = None if isinstance(outcome, Failed) or outcome is None else signature_of(job, outcome)
        if name:
            wanted[job.message.workspace_id][job.key] = name
    for workspace_id, names in wanted.items():
        refused = signature_service.unsendable(workspace_id, set(names.values()))
        for key, name in names.items():
            if name in refused:
                out[key] = Failed(refused[name])


def _render_one(template: templates.Template, profile: profiles_repo.ProfileRecord | None, job: "Job",
                shortener: links.RecipientLinks) -> Rendered | Failed:
    if profile is None:
        return Failed(f"no profile {job.recipient.user_id}")
    channels = {c: profile.channels.get(c) for c in CHANNELS}
    recipient = templates.Recipient(
        profile=templates.profile_data(profile.user_id, profile.attributes, channels, sorted(profile.tags)),
        event=job.message.event, message=_message_ids(job), values=job.message.values,
    )
    try:
        return templates.render(template.spec, recipient, shortener=shortener)
    except templates.RenderFailed as failed:
        return Failed(failed.reason)


def _message_ids(job: "Job") -> dict[str, str]:
    """``message`` as templates see it: its ids, and ``unsubscribe_url`` (the signed link
    that unsubscribes the message's address) when it has one."""
    m = job.message
    ids = {"template_id": m.template_id or "", "task_id": m.task_id, "journey_id": m.journey_id,
           "node_id": m.node_id}
    found = {k: v for k, v in ids.items() if v}
    url = unsubscribe_url(job)
    if url is not None:
        found["unsubscribe_url"] = url
    return found
