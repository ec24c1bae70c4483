"""The redactor's memos (issue 10, Measure) never return an answer made before a secret was known."""

from __future__ import annotations

from opscheck.evidence import redact as redact_module
from opscheck.evidence.redact import REDACTED, Redactor
from opscheck.transport.http import origin_of


def test_a_text_redacted_before_a_secret_was_registered_is_redacted_again_after():
    redactor = Redactor()
    line = "echoed: s3ssion-abcdef"
    assert redactor.text(line) == line
    redactor.register_header("Set-Cookie", "sid=s3ssion-abcdef; Path=/", received=True)
    assert redactor.text(line) == f"echoed: {REDACTED}"
    assert redactor.text(line) == f"echoed: {REDACTED}"  # and from the memo


def test_a_url_redacted_before_a_secret_was_registered_is_redacted_again_after():
    redactor = Redactor()
    url = "https://h.example/items/tok-9f8e7d6c?page=2"
    assert redactor.url(url) == url
    redactor.add_secrets(["tok-9f8e7d6c"])
    assert redactor.url(url) == f"https://h.example/items/{REDACTED}?page=2"
    # The structural rules hold from the memo too: password and credential-named parameters.
    assert redactor.url("https://u:pw-1234@h.example/?token=abcd&x=1") == f"https://u:{REDACTED}@h.example/?token={REDACTED}&x=1"
    assert redactor.url("https://u:pw-1234@h.example/?token=abcd&x=1") == f"https://u:{REDACTED}@h.example/?token={REDACTED}&x=1"


def test_a_url_registered_twice_keeps_its_secrets_and_the_second_time_reads_nothing(monkeypatch):
    redactor = Redactor()
    url = "https://user:pa55word@h.example/?api_key=k-123456"
    redactor.register_url(url)
    assert redactor.text("pa55word k-123456") == f"{REDACTED} {REDACTED}"
    calls = []
    monkeypatch.setattr(redact_module, "urlsplit", lambda u: calls.append(u))
    redactor.register_url(url)
    assert calls == []


def test_texts_longer_than_the_memo_keeps_and_more_texts_than_it_holds_are_still_redacted(monkeypatch):
    redactor = Redactor(["sekr3t-value"])
    long_text = "x" * (redact_module._MEMO_CHARS + 10) + " sekr3t-value"
    assert redactor.text(long_text).endswith(f" {REDACTED}")
    assert long_text not in redactor._texts
    monkeypatch.setattr(redact_module, "_MEMO_SIZE", 8)
    for i in range(20):
        assert redactor.text(f"{i} sekr3t-value") == f"{i} {REDACTED}"
    assert len(redactor._texts) <= 8


def test_headers_of_an_answer_are_redacted_by_name_and_by_value_from_the_memo_too():
    redactor = Redactor(["v4lue-of-a-key"])
    answer = [("Content-Type", "text/plain"), ("X-Api-Key", "anything"), ("X-Echo", "v4lue-of-a-key")]
    for _ in range(2):
        assert redactor.headers(answer) == {"Content-Type": "text/plain", "X-Api-Key": REDACTED, "X-Echo": REDACTED}


def test_the_origin_of_a_url_is_the_same_however_often_it_is_asked():
    for _ in range(3):
        assert origin_of("HTTPS://Example.COM/x") == ("https", "example.com", 443)
        assert origin_of("http://[::1]:8080/") == ("http", "::1", 8080)
        assert origin_of("http://h:notaport/") == ("http", "h", 80)
