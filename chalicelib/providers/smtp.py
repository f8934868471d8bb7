"""SMTP (self-hosted mail): one connection per batch, one MIME message per recipient.

Follows RFC 5321 (SMTP) through Python's ``smtplib``, RFC 5322 / 2046 for the message
(``multipart/alternative`` with text and html) and RFC 8058 for the one-click unsubscribe
headers the sender puts in ``content["headers"]``. Settings: ``host``, ``port`` (587 with
STARTTLS, 465 with ``ssl``, else 25), ``from_address`` ("Name <addr>" allowed),
``starttls`` (default: on for port 587), ``ssl`` (implicit TLS). Credentials (optional):
``username`` and ``password`` for AUTH.

The ``Message-ID`` is made from the message's idempotency key (so a resend after a crash
carries the same id, which receivers may use to drop the copy) and is the provider
message id, without its angle brackets.

Errors: a refused connection, a timeout, a dropped connection or a TLS certificate that
does not verify is retryable for every message not yet handed over; a 4xx reply (to the
greeting, AUTH, MAIL, RCPT or DATA) is retryable and a 5xx reply permanent, with the
server's words as the reason (a refused login fails the whole batch).
"""
from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any

from chalicelib import clock
from chalicelib.providers.base import Outgoing, Provider, Result, register

TIMEOUT_SECONDS = 30
RESERVED = frozenset({"from", "to", "subject", "message-id", "date", "mime-version", "content-type",
                      "content-transfer-encoding", "bcc", "cc"})


def tls_context() -> ssl.SSLContext:
    """The TLS settings for STARTTLS and implicit TLS: the system's trusted CAs, the host
    name checked."""
    return ssl.create_default_context()


class CredentialsUnreadable(Exception):
    """Secrets Manager did not answer with the provider's credentials."""


class Unusable(Exception):
    """The message cannot be made (its reason is in words)."""


def message_id(idempotency_key: str, from_address: str) -> str:
    """``<hash@domain>``: the same message always gets the same id."""
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


def build_message(message: Outgoing, from_address: str) -> EmailMessage:
    """The MIME message for one recipient (pure but for the Date header's clock)."""
    content = message.content
    subject, html, text = content.get("subject"), content.get("html"), content.get("text")
    if not message.to:
        raise Unusable("the recipient has no email address")
    if not subject:
        raise Unusable("the email has no subject")
    if not html and not text:
        raise Unusable("the email has neither html nor text")
    mail = EmailMessage(policy=SMTP_POLICY)
    try:
        mail["Subject"] = subject
        mail["From"] = from_address
        mail["To"] = message.to
        mail["Date"] = format_datetime(clock.now())
        mail["Message-ID"] = message_id(message.idempotency_key, from_address)
        for name, value in (content.get("headers") or {}).items():
            if str(name).lower() in RESERVED:
                raise Unusable(f"the header {name} is set by the sender and cannot be given")
            mail[str(name)] = str(value)
    except ValueError:
        raise Unusable("a header of the email holds a line break or is not a valid address") from None
    if text:
        mail.set_content(text)
        if html:
            mail.add_alternative(html, subtype="html")
    else:
        mail.set_content(html, subtype="html")
    return mail


def _reply(code: int, text: bytes | str, refused: str = "the mail server refused the message") -> Result:
    """A 4xx reply is retryable, any other refusal permanent; the server's words kept."""
    words = (text.decode(errors="replace") if isinstance(text, bytes) else str(text)).strip()
    if 400 <= code < 500:
        return Result("retryable", reason=f"the mail server asked to try later: {code} {words}")
    return Result("permanent", reason=f"{refused}: {code} {words}")


@register
class SmtpProvider(Provider):
    kind = "smtp"
    channels = frozenset({"email"})
    max_batch = 50

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        settings = self.config.settings
        from_address = settings.get("from_address")
        if not settings.get("host") or not from_address:
            return [Result("permanent", reason="the SMTP provider needs host and from_address settings")] * len(batch)
        envelope_from = parseaddr(from_address)[1]
        results: list[Result | None] = [None] * len(batch)
        mails: dict[int, EmailMessage] = {}
        for i, message in enumerate(batch):
            try:
                mails[i] = build_message(message, from_address)
            except Unusable as bad:
                results[i] = Result("permanent", reason=str(bad))
        if mails:
            try:
                credentials = self._credentials()
            except CredentialsUnreadable:
                unreadable = Result("retryable", reason="could not read the SMTP credentials")
                return [r or unreadable for r in results]
            try:
                connection = self._connect(credentials)
            except smtplib.SMTPResponseException as refused:  # greeting, EHLO, STARTTLS or AUTH refused
                what = "login" if isinstance(refused, smtplib.SMTPAuthenticationError) else "connection"
                answer = _reply(refused.smtp_code, refused.smtp_error, f"the mail server refused the {what}")
                return [r or answer for r in results]
            except ssl.SSLCertVerificationError:
                untrusted = Result("retryable", reason="the mail server's TLS certificate could not be verified")
                return [r or untrusted for r in results]
            except (OSError, smtplib.SMTPException):
                lost = Result("retryable", reason="could not connect to the mail server")
                return [r or lost for r in results]
            try:
                for i, mail in mails.items():
                    results[i] = self._send_one(connection, mail, envelope_from, batch[i].to or "")
                    if results[i] is DISCONNECTED:
                        break
            finally:
                try:
                    connection.quit()
                except (OSError, smtplib.SMTPException):
                    connection.close()
        return [r or DISCONNECTED for r in results]

    def _connect(self, credentials: dict[str, Any]) -> smtplib.SMTP:
        settings = self.config.settings
        use_ssl = bool(settings.get("ssl"))
        port = int(settings.get("port") or (465 if use_ssl else 587 if settings.get("starttls") else 25))
        starttls = settings.get("starttls")
        starttls = (port == 587) if starttls is None else bool(starttls)
        context = tls_context()
        connection: smtplib.SMTP
        if use_ssl:
            connection = smtplib.SMTP_SSL(settings["host"], port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            connection = smtplib.SMTP(settings["host"], port, timeout=TIMEOUT_SECONDS)
        try:
            connection.ehlo()
            if starttls and not use_ssl:
                connection.starttls(context=context)
                connection.ehlo()
            if credentials.get("username"):
                connection.login(str(credentials["username"]), str(credentials.get("password") or ""))
        except BaseException:
            connection.close()
            raise
        return connection

    def _credentials(self) -> dict[str, Any]:
        """The stored username and password, or none (a server that takes mail without AUTH)."""
        from botocore.exceptions import ClientError

        try:
            return self.config.credentials()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return {}
            raise CredentialsUnreadable() from None

    @staticmethod
    def _send_one(connection: smtplib.SMTP, mail: EmailMessage, envelope_from: str, to: str) -> Result:
        try:
            connection.send_message(mail, from_addr=envelope_from, to_addrs=[Address(addr_spec=to).addr_spec])
        except smtplib.SMTPRecipientsRefused as refused:
            code, text = next(iter(refused.recipients.values()))
            return _reply(code, text)
        except smtplib.SMTPResponseException as answered:  # MAIL FROM or DATA refused
            if answered.smtp_code == -1:
                return DISCONNECTED
            return _reply(answered.smtp_code, answered.smtp_error)
        except (OSError, smtplib.SMTPException):
            return DISCONNECTED
        except ValueError:
            return Result("permanent", reason="the recipient is not a valid email address")
        return Result("accepted", provider_message_id=str(mail["Message-ID"]).strip("<>"))


DISCONNECTED = Result("retryable", reason="the connection to the mail server was lost")
