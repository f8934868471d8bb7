"""The SMTP adapter against a real SMTP server (aiosmtpd on 127.0.0.1): the exact message
it receives, its error replies, logins, and lost connections."""
from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from chalicelib import aws
from chalicelib.providers.base import ProviderConfig
from chalicelib.providers.smtp import SmtpProvider, message_id
from tests.providers.conftest import message_record, outgoing, run_sender, send_record

FROM = "News <news@example.test>"
ONE_CLICK = {"List-Unsubscribe": "<https://example.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler: keeps what it accepts, and answers as told per address."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.mail_reply: str | None = None
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"right", handled=False)  # the server answers 235 or 535

    def message_to(self, address: str) -> EmailMessage:
        [raw] = [raw for _, to, raw in self.received if to == [address]]
        return message_from_bytes(raw, policy=default)  # type: ignore[return-value]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, authenticator=box.authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def smtp(port: int, name: str | None = None, **settings: Any) -> SmtpProvider:
    return SmtpProvider(ProviderConfig(workspace_id="ws_test", name=name or "smtp-" + uuid.uuid4().hex[:8], kind="smtp",
                                       channel="email", settings={"host": "127.0.0.1", "port": port,
                                                                  "from_address": FROM, **settings}))


def test_the_server_receives_a_multipart_message_with_headers_and_our_message_id(aws_backend, mailbox):
    box, port = mailbox
    message = outgoing("ann@example.com", key="k1", subject="Hello Ann ✓", text="Hi Ann", html="<p>Hi Ann</p>",
                       headers=ONE_CLICK)

    [result] = smtp(port).send([message])

    assert result.outcome == "accepted" and result.provider_message_id == message_id("k1", FROM).strip("<>")
    [(mail_from, to, _)] = box.received
    assert (mail_from, to) == ("news@example.test", ["ann@example.com"])
    got = box.message_to("ann@example.com")
    assert got["Subject"] == "Hello Ann ✓" and got["From"] == FROM and got["To"] == "ann@example.com"
    assert got["Message-ID"] == f"<{result.provider_message_id}>" and got["Date"]
    assert got["List-Unsubscribe"] == "<https://example.test/u/tok>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got.get_content_type() == "multipart/alternative"
    parts = [(p.get_content_type(), p.get_content().strip()) for p in got.iter_parts()]
    assert parts == [("text/plain", "Hi Ann"), ("text/html", "<p>Hi Ann</p>")]


def test_an_html_only_email_is_a_single_html_part(aws_backend, mailbox):
    box, port = mailbox

    [result] = smtp(port).send([outgoing("bo@example.com", subject="s", html="<b>x</b>")])

    got = box.message_to("bo@example.com")
    assert result.outcome == "accepted" and got.get_content_type() == "text/html"


def test_the_same_message_gets_the_same_message_id_on_a_resend(aws_backend, mailbox):
    box, port = mailbox
    provider = smtp(port)

    first = provider.send([outgoing("cy@example.com", key="same", subject="s", text="t")])
    again = provider.send([outgoing("cy@example.com", key="same", subject="s", text="t")])
    other = provider.send([outgoing("cy@example.com", key="other", subject="s", text="t")])

    assert first[0].provider_message_id == again[0].provider_message_id != other[0].provider_message_id


def test_replies_map_per_recipient_4xx_retryable_5xx_permanent_and_the_batch_goes_on(aws_backend, mailbox):
    box, port = mailbox
    box.rcpt_replies = {"gone@example.com": "550 5.1.1 No such user here",
                        "full@example.com": "451 4.2.2 Mailbox full, try again later"}
    to = ["a@example.com", "gone@example.com", "full@example.com", "b@example.com"]

    results = smtp(port).send([outgoing(address, subject="s", text="t") for address in to])

    assert [(r.outcome, r.reason) for r in results] == [
        ("accepted", None),
        ("permanent", "the mail server refused the message: 550 5.1.1 No such user here"),
        ("retryable", "the mail server asked to try later: 451 4.2.2 Mailbox full, try again later"),
        ("accepted", None)]
    assert sorted(t for _, [t], _ in box.received) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize("where, reply, outcome", [
    ("mail", "553 5.7.1 Sender address rejected", "permanent"),
    ("data", "554 5.7.1 Message rejected as spam", "permanent"),
    ("data", "452 4.3.1 Insufficient system storage", "retryable"),
])
def test_refusals_of_the_sender_or_the_content_map_by_their_code(aws_backend, mailbox, where, reply, outcome):
    box, port = mailbox
    setattr(box, f"{where}_reply", reply)

    [result] = smtp(port).send([outgoing("a@example.com", subject="s", text="t")])

    assert result.outcome == outcome and result.reason.endswith(reply)


def test_stored_credentials_log_in_and_a_refused_login_fails_every_message(aws_backend, mailbox):
    box, port = mailbox
    good, bad = smtp(port, "smtp-good"), smtp(port, "smtp-bad")
    for provider, password in ((good, "right"), (bad, "wrong")):
        secret = json.dumps({"username": "mailer", "password": password})
        try:
            aws.secretsmanager().create_secret(Name=provider.config.secret_id(), SecretString=secret)
        except aws.secretsmanager().exceptions.ResourceExistsException:
            aws.secretsmanager().put_secret_value(SecretId=provider.config.secret_id(), SecretString=secret)

    accepted = good.send([outgoing("a@example.com", subject="s", text="t")])
    refused = bad.send([outgoing("a@example.com", subject="s", text="t"), outgoing("b@example.com", subject="s", text="t")])

    assert accepted[0].outcome == "accepted" and box.logins[0] == (b"mailer", b"right")
    assert {r.outcome for r in refused} == {"permanent"}, refused
    assert refused[0].reason.startswith("the mail server refused the login: 535")
    assert [t for _, [t], _ in box.received] == ["a@example.com"]


def test_a_server_that_is_not_there_is_retryable_for_every_message(aws_backend):
    results = smtp(free_port()).send([outgoing("a@example.com", subject="s", text="t")] * 2)

    assert [(r.outcome, r.reason) for r in results] == [("retryable", "could not connect to the mail server")] * 2


def test_a_connection_lost_mid_batch_leaves_the_rest_retryable(aws_backend, mailbox, monkeypatch):
    box, port = mailbox
    provider = smtp(port)
    calls = {"n": 0}
    original = SmtpProvider._send_one

    def drop_second(connection, mail, envelope_from, to):
        calls["n"] += 1
        if calls["n"] == 2:
            connection.close()  # the server went away between two messages
        return original(connection, mail, envelope_from, to)

    monkeypatch.setattr(SmtpProvider, "_send_one", staticmethod(drop_second))

    results = provider.send([outgoing(f"u{i}@example.com", subject="s", text="t") for i in range(3)])

    assert [r.outcome for r in results] == ["accepted", "retryable", "retryable"]
    assert results[1].reason == "the connection to the mail server was lost" and calls["n"] == 2


def test_messages_that_cannot_be_made_fail_without_reaching_the_server(aws_backend, mailbox):
    box, port = mailbox

    results = smtp(port).send([
        outgoing(None, subject="s", text="t"), outgoing("a@example.com", text="t"),
        outgoing("a@example.com", subject="s", text="t", headers={"Bcc": "spy@example.com"}),
        outgoing("a@example.com", subject="s", text="t", headers={"X-Note": "a\r\nBcc: spy@example.com"})])

    assert [r.reason for r in results] == [
        "the recipient has no email address", "the email has no subject",
        "the header Bcc is set by the sender and cannot be given",
        "a header of the email holds a line break or is not a valid address"]
    assert box.received == []


def test_the_sender_delivers_through_a_configured_smtp_provider(app, api, workspace, mailbox):
    box, port = mailbox
    assert api.put("/v1/providers/mailer", {"channel": "email", "kind": "smtp", "settings": {
        "host": "127.0.0.1", "port": port, "from_address": FROM, "starttls": False}},
        key=workspace.admin_key).status == 200
    content = {"subject": "Welcome", "text": "Hello", "html": "<p>Hello</p>", "headers": ONE_CLICK}

    result = run_sender(app, send_record(workspace.id, "mailer", "email",
                                         [{"user_id": "u1", "to": "ann@example.com", "content": content}]))

    assert result == {"batchItemFailures": []}
    item = message_record(workspace.id, "u1")
    assert item.status == "sent" and item.provider_kind == "smtp"
    assert box.message_to("ann@example.com")["Message-ID"] == f"<{item.provider_message_id}>"


# --- TLS: STARTTLS and implicit TLS, with the server's certificate checked --------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=365 * 30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def trusting(certificate, monkeypatch) -> None:
    """The adapter trusts the test certificate (and checks the host name as always)."""
    import ssl

    from chalicelib.providers import smtp as module

    monkeypatch.setattr(module, "tls_context", lambda: ssl.create_default_context(cafile=certificate[0]))


def server_context(certificate: tuple[str, str]):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mail_goes_over_tls_when_set_and_the_server_requires_it(aws_backend, certificate, trusting, mode):
    box, port = Mailbox(), free_port()
    tls = {"tls_context": server_context(certificate), "require_starttls": True} if mode == "starttls" \
        else {"ssl_context": server_context(certificate)}
    controller = Controller(box, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    try:
        [plain] = smtp(port, starttls=False).send([outgoing("a@example.com", subject="s", text="t")]) \
            if mode == "starttls" else [None]
        [result] = smtp(port, **{mode: True}).send([outgoing("b@example.com", subject="s", text="t")])
    finally:
        controller.stop()

    assert result.outcome == "accepted" and [t for _, [t], _ in box.received] == ["b@example.com"]
    if plain is not None:  # the server refuses mail before STARTTLS
        assert plain.outcome == "permanent" and "530" in plain.reason


def test_an_untrusted_certificate_is_not_sent_to(aws_backend, certificate):
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=server_context(certificate),
                            require_starttls=True)
    controller.start()
    try:
        [result] = smtp(port, starttls=True).send([outgoing("a@example.com", subject="s", text="t")])
    finally:
        controller.stop()

    assert (result.outcome, result.reason) == ("retryable", "the mail server's TLS certificate could not be verified")
    assert box.received == []
