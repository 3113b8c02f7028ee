"""Our Standard Webhooks signer agrees with the reference library (standardwebhooks) both
ways, refuses what a receiver must refuse, and the URL policy refuses what it must."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from threadline.webhooks import signing
from threadline.webhooks.delivery import retry_after_s, retry_delay
from threadline.webhooks.destinations import Destination, Refused, check_address, check_url

# The Standard Webhooks spec's own example (standard-webhooks.md, "Signature scheme")
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_spec_example_signs_as_published() -> None:
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


@given(
    msg_id=st.text(st.characters(codec="ascii", exclude_characters="\r\n"), min_size=1),
    body=st.binary(max_size=512),
    key=st.binary(min_size=24, max_size=64),
)
def test_the_reference_library_verifies_what_we_sign(msg_id: str, body: bytes, key: bytes) -> None:
    secret = signing.new_secret(key)
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers(secret, msg_id, now, body)
    Webhook(secret).verify(body, headers, json_parse=False)  # raises when it disagrees
    signing.verify(secret, headers, body, now)


def test_we_verify_what_the_reference_library_signs() -> None:
    secret = signing.new_secret()
    at = datetime.now(UTC)
    reference = Webhook(secret).sign("msg_1", at, b'{"a":1}')
    received = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(at.timestamp())),
        "Webhook-Signature": f"v1,bm90IHRoaXMgb25l {reference}",  # rotation: two signatures
    }
    signing.verify(secret, received, b'{"a":1}', int(at.timestamp()))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"body": b'{"a":2}'}, "no signature matches"),
        ({"secret": signing.new_secret(b"x" * 32)}, "no signature matches"),
        ({"now": 1_000_000 + 301}, "too far"),
        ({"now": 1_000_000 - 301}, "too far"),
        ({"drop": "webhook-signature"}, "missing"),
        ({"timestamp": "soon"}, "Unix seconds"),
    ],
)
def test_a_receiver_refuses_what_it_must(change: dict[str, object], why: str) -> None:
    secret = signing.new_secret(b"k" * 32)
    headers = signing.headers(secret, "msg_9", 1_000_000, b'{"a":1}')
    if "drop" in change:
        del headers[str(change["drop"])]
    if "timestamp" in change:
        headers["webhook-timestamp"] = str(change["timestamp"])
    with pytest.raises(signing.BadSignature, match=why):
        signing.verify(
            str(change.get("secret", secret)),
            headers,
            change.get("body", b'{"a":1}'),  # type: ignore[arg-type]
            int(change.get("now", 1_000_000)),  # type: ignore[call-overload]
        )
    if "drop" not in change and "timestamp" not in change and "now" not in change:
        with pytest.raises(WebhookVerificationError):  # the reference library agrees
            now_headers = signing.headers(
                secret, "msg_9", int(datetime.now(UTC).timestamp()), b"{}"
            )
            Webhook(str(change.get("secret", secret))).verify(
                change.get("body", b'{"a":1}'),  # type: ignore[arg-type]
                now_headers,
            )


def test_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    one, two = signing.new_secret(), signing.new_secret()
    assert one != two and one.startswith("whsec_")
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32
    with pytest.raises(ValueError, match="whsec_"):
        signing.sign("not-a-secret", "m", 1, b"")
    with pytest.raises(ValueError, match="base64"):
        signing.sign("whsec_***", "m", 1, b"")


def test_retries_wait_longer_each_time_with_jitter_and_honour_retry_after() -> None:
    delays = [10.0, 60.0, 300.0]
    assert [retry_delay(delays, n, 0.5) for n in (1, 2, 3, 4)] == [10.0, 60.0, 300.0, 300.0]
    assert retry_delay(delays, 1, 0.0) == 8.0 and retry_delay(delays, 1, 0.999) < 12.0
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert retry_after_s("120", now) == 120.0
    assert retry_after_s("Sun, 06 Dec 2026 12:01:30 GMT", now) == 90.0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None


@pytest.mark.parametrize(
    ("url", "allow_http", "why"),
    [
        ("http://crm.example.com/hook", False, "https"),
        ("http://127.0.0.1:8080/hook", False, "https"),
        ("http://10.0.0.5/hook", True, "https"),  # http only to localhost, even when allowed
        ("ftp://crm.example.com/", False, "https://"),
        ("https://user:pw@crm.example.com/", False, "user name"),
        ("https:///path", False, "https://"),
        ("https://crm.example.com/#x", False, "fragment"),
        ("https://crm.example.com:99999/", False, "valid URL"),
        ("https://" + "a" * 2000 + ".com/", False, "longer"),
    ],
)
def test_urls_we_never_send_to(url: str, allow_http: bool, why: str) -> None:
    with pytest.raises(Refused, match=why):
        check_url(url, allow_http)


def test_urls_we_send_to() -> None:
    assert check_url("https://CRM.example.com:8443/a?b=1", False) == "crm.example.com"
    assert check_url("http://localhost:9000/hook", True) == "localhost"


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "0.0.0.0", "224.0.0.1"],  # noqa: S104
)  # fmt: skip
def test_private_and_internal_addresses_are_refused(address: str) -> None:
    with pytest.raises(Refused):
        check_address(ipaddress.ip_address(address), allow_private=False)


def test_public_addresses_pass_and_private_ones_only_when_allowed() -> None:
    check_address(ipaddress.ip_address("93.184.216.34"), allow_private=False)
    check_address(ipaddress.ip_address("2606:4700::1111"), allow_private=False)
    check_address(ipaddress.ip_address("10.1.2.3"), allow_private=True)
    with pytest.raises(Refused):
        check_address(ipaddress.ip_address("224.0.0.1"), allow_private=True)


def test_the_request_goes_to_the_checked_address() -> None:
    target = Destination(
        "https://crm.example.com:8443/in?x=1",
        "crm.example.com",
        ("93.184.216.34", "2606:4700::1111"),
    )
    assert target.pinned_url("93.184.216.34") == "https://93.184.216.34:8443/in?x=1"
    assert target.pinned_url("2606:4700::1111") == "https://[2606:4700::1111]:8443/in?x=1"
    bare = Destination("https://crm.example.com", "crm.example.com", ("93.184.216.34",))
    assert bare.pinned_url("93.184.216.34") == "https://93.184.216.34/"
