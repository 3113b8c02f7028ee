"""The From of inbound email: DKIM (RFC 6376) with alignment to the From's domain, and the
Authentication-Results (RFC 8601) of a trusted relay, topmost only. Real signatures: the
RFC 8463 example message with its published keys, and messages signed here with dkimpy."""

from __future__ import annotations

from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from threadline.channels.email.authentication import (
    SenderAuth,
    aligned,
    check_sender,
    parse_authentication_results,
)

FIXTURES = Path(__file__).parent / "fixtures" / "email" / "dkim"
RFC8463_KEYS = {  # RFC 8463 Appendix A.2
    "brisbane._domainkey.football.example.com": (
        b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    ),
    "test._domainkey.football.example.com": (
        b"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
        b"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
        b"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
        b"Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
    ),
}
DKIM = SenderAuth()
RELAY = SenderAuth("relay", "mx.bank.example")


class Dns:
    """DKIM key records by name, answered as dkimpy's `dnsfunc` expects (the queries it
    made are kept)."""

    def __init__(self, records: dict[str, bytes]) -> None:
        self.records = records
        self.queries: list[str] = []

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        self.queries.append(name.decode())
        return self.records.get(name.decode().rstrip("."))


def _key() -> tuple[bytes, bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


PEM, RECORD = _key()


def _message(sender: str = "ana@bank-customer.example", extra: str = "") -> bytes:
    return (
        f"From: Ana Silva <{sender}>\r\n{extra}To: support@bank.example\r\n"
        "Subject: O meu cartão\r\nDate: Sun, 06 Dec 2026 21:00:00 +0000\r\n"
        "Message-ID: <a1@bank-customer.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nBom dia, o cartão foi recusado.\r\n"
    ).encode()


def _signed(message: bytes, domain: str, selector: str = "s1") -> bytes:
    signature = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        PEM,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return bytes(signature) + message


def test_the_rfc_8463_example_verifies_with_its_published_keys() -> None:
    raw = (FIXTURES / "rfc8463-football.eml").read_bytes()
    dns = Dns(RFC8463_KEYS)
    check = check_sender(raw, "joe@football.example.com", DKIM, dns)
    assert check.verified and check.domain == "football.example.com"
    assert dns.queries == ["brisbane._domainkey.football.example.com."]  # the first passed


def test_each_of_its_two_signatures_verifies_alone_ed25519_and_rsa() -> None:
    raw = (FIXTURES / "rfc8463-football.eml").read_bytes()
    for selector in ("brisbane", "test"):
        name = f"{selector}._domainkey.football.example.com"
        check = check_sender(raw, "joe@football.example.com", DKIM, Dns({name: RFC8463_KEYS[name]}))
        assert check.verified, (selector, check.reason)


def test_the_rfc_8463_example_with_a_changed_body_does_not() -> None:
    raw = (FIXTURES / "rfc8463-football.eml").read_bytes().replace(b"lost", b"won")
    check = check_sender(raw, "joe@football.example.com", DKIM, Dns(RFC8463_KEYS))
    assert not check.verified and "body hash" in check.reason


def test_a_signature_of_the_from_domain_or_its_parent_passes() -> None:
    dns = Dns({"s1._domainkey.bank-customer.example": RECORD})
    assert check_sender(
        _signed(_message(), "bank-customer.example"), "ana@bank-customer.example", DKIM, dns
    ).verified
    sub = _message("ana@mail.bank-customer.example")
    assert check_sender(
        _signed(sub, "bank-customer.example"), "ana@mail.bank-customer.example", DKIM, dns
    ).verified


def test_a_forger_signing_with_their_own_domain_is_not_verified() -> None:
    dns = Dns({"s1._domainkey.forger.example": RECORD})
    raw = _signed(_message(), "forger.example")
    check = check_sender(raw, "ana@bank-customer.example", DKIM, dns)
    assert not check.verified and "does not match the From domain" in check.reason


def test_unsigned_altered_or_doubled_from_is_not_verified() -> None:
    dns = Dns({"s1._domainkey.bank-customer.example": RECORD})
    assert check_sender(_message(), "ana@bank-customer.example", DKIM, dns).reason == (
        "no DKIM signature"
    )
    signed = _signed(_message(), "bank-customer.example")
    altered = signed.replace(b"recusado", b"aceite")
    assert not check_sender(altered, "ana@bank-customer.example", DKIM, dns).verified
    # a second From added above the signed one: which one a reader shows is not defined
    doubled = b"From: <victim@bank-customer.example>\r\n" + signed
    check = check_sender(doubled, "victim@bank-customer.example", DKIM, dns)
    assert not check.verified and "From header" in check.reason


def test_an_unknown_key_is_not_verified() -> None:
    raw = _signed(_message(), "bank-customer.example")
    assert not check_sender(raw, "ana@bank-customer.example", DKIM, Dns({})).verified


def test_off_takes_the_from_as_it_is() -> None:
    assert check_sender(_message(), "ana@bank-customer.example", SenderAuth("off"), None).verified


def _relayed(*results: str) -> bytes:
    return b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results) + _message()


def test_the_trusted_relays_dkim_or_dmarc_pass_verifies() -> None:
    dkim_pass = (
        "mx.bank.example (amavis);\r\n dkim=pass (2048-bit key; unprotected)"
        ' header.d=bank-customer.example header.i=@bank-customer.example header.b="kX2p/3bF"'
    )
    check = check_sender(_relayed(dkim_pass), "ana@bank-customer.example", RELAY)
    assert check.verified and check.domain == "bank-customer.example"
    dmarc_pass = "mx.bank.example; spf=pass smtp.mailfrom=x.example; dmarc=pass (p=reject)"
    dmarc_pass += " header.from=bank-customer.example"
    assert check_sender(_relayed(dmarc_pass), "ana@bank-customer.example", RELAY).verified


def test_only_the_topmost_header_and_only_the_trusted_relays_count() -> None:
    forged = "mx.bank.example; dkim=pass header.d=bank-customer.example"
    ours = "mx.bank.example; dkim=fail header.d=bank-customer.example; dmarc=fail"
    # the sender's own (forged) header below the relay's is never read
    assert not check_sender(_relayed(ours, forged), "ana@bank-customer.example", RELAY).verified
    other = "mx.elsewhere.example; dkim=pass header.d=bank-customer.example"
    check = check_sender(_relayed(other, forged), "ana@bank-customer.example", RELAY)
    assert not check.verified and "not the trusted relay" in check.reason
    assert not check_sender(_message(), "ana@bank-customer.example", RELAY).verified
    unaligned = "mx.bank.example; dkim=pass header.d=forger.example"
    assert not check_sender(_relayed(unaligned), "ana@bank-customer.example", RELAY).verified


def test_authentication_results_are_parsed_as_rfc_8601_writes_them() -> None:
    # RFC 8601 Appendix B.6 (comments, a version, several methods), with a quoted value
    parsed = parse_authentication_results(
        "example.com 1;\r\n  dkim=pass (good signature) header.d=mail-router.example.net;"
        '\r\n  dkim=fail (bad signature) header.d="newyork.example.com" reason="body (hash)"'
    )
    assert parsed.authserv_id == "example.com"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("dkim", "fail")]
    assert parsed.results[1].properties == {"header.d": "newyork.example.com"}
    assert parse_authentication_results("example.org 1; none").results == ()
    with pytest.raises(ValueError, match="unclosed"):
        parse_authentication_results("example.org; dkim=pass (unclosed")


def test_alignment_never_accepts_a_bare_tld_or_a_sibling() -> None:
    assert aligned("bank.example", "mail.bank.example")
    assert not aligned("example", "bank.example")
    assert not aligned("evilbank.example", "bank.example")
    assert not aligned("mail.bank.example", "bank.example")


def test_mailbox_settings_are_checked() -> None:
    assert SenderAuth.of({}) == SenderAuth("dkim")
    with pytest.raises(ValueError, match="needed with mode 'relay'"):
        SenderAuth.of({"sender_auth": {"mode": "relay"}})
    with pytest.raises(ValueError, match="one of off, dkim, relay"):
        SenderAuth.of({"sender_auth": {"mode": "spf"}})
    assert SenderAuth.of({"sender_auth": {"mode": "relay", "authserv_id": "MX.Bank.Example"}}) == (
        RELAY
    )
