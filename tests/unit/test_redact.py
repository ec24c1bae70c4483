"""Redactor's per-name answers are remembered for speed, and never outlive what they were computed from."""

from __future__ import annotations

from opscheck.evidence.redact import REDACTED, Redactor, is_sensitive_name


def test_a_header_named_sensitive_after_it_was_asked_about_is_redacted_from_then_on():
    redactor = Redactor()
    assert not redactor.is_sensitive("X-Tenant")
    assert redactor.headers({"X-Tenant": "acme-corp"}) == {"X-Tenant": "acme-corp"}
    redactor.add_headers(["x-tenant"])  # e.g. the profile's auth header, registered later
    assert redactor.is_sensitive("X-Tenant")
    assert redactor.headers({"X-Tenant": "acme-corp"}) == {"X-Tenant": REDACTED}


def test_the_name_rule_answers_the_same_however_often_it_is_asked():
    for _ in range(3):
        assert is_sensitive_name("X-Goog-Api-Key") and is_sensitive_name("x-session-id")
        assert not is_sensitive_name("WWW-Authenticate") and not is_sensitive_name("Access-Control-Allow-Credentials")
        assert not is_sensitive_name("Content-Type")


def test_a_service_inventing_header_names_does_not_grow_the_memory_without_bound():
    redactor = Redactor()
    for i in range(10_000):
        redactor.is_sensitive(f"X-Name-{i}")
    assert len(redactor._sensitive) <= 4096
    assert redactor.is_sensitive("Authorization") and not redactor.is_sensitive("X-Name-1")


def test_headers_given_as_pairs_or_as_a_mapping_redact_alike():
    redactor = Redactor(secrets=["s3cr3t-value"])
    pairs = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Echo", "got s3cr3t-value")]
    assert redactor.headers(pairs) == {"Set-Cookie": f"{REDACTED}, {REDACTED}", "X-Echo": f"got {REDACTED}"}
    assert redactor.headers(dict(pairs[1:])) == {"Set-Cookie": REDACTED, "X-Echo": f"got {REDACTED}"}
