"""core.authres: do the trusted Authentication-Results vouch for an agent's From domain?

Where it sits in the flow: before the pipeline runs an agent's `#commands`, it
asks `verify_sender` whether the border MTA's `Authentication-Results` show
DMARC, aligned DKIM or aligned SPF passing for the From domain. These tests
feed it headers shaped like those of Gmail, Microsoft 365, Fastmail and an
OpenDKIM/OpenDMARC stack, forged headers above and below the real ones,
alignment near public suffixes, the corners of the RFC 8601 grammar and
garbage; and check that no input makes it raise.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildesk.core.authres import Verdict, verify_sender
from maildesk.core.message import parse_message

OURS = "mx.example.net"
AGENT = "agent@example.com"

Headers = Mapping[str, tuple[str, ...]]


def ar(*values: str) -> Headers:
    """Headers holding these Authentication-Results values, topmost first."""
    return {"authentication-results": values}


GMAIL = (
    "mx.google.com;       dkim=pass header.i=@example.com header.s=20230601 header.b=Xk3/9q+Z;"
    "       spf=pass (google.com: domain of agent@example.com designates 209.85.220.41 as"
    " permitted sender) smtp.mailfrom=agent@example.com;"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
)
GMAIL_SPOOFED = (
    "mx.google.com;       arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass"
    " dkdomain=example.com dmarc=pass fromdomain=example.com);"
    "       spf=softfail (google.com: domain of transitioning agent@example.com does not"
    " designate 198.51.100.7 as permitted sender) smtp.mailfrom=agent@example.com;"
    "       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.com"
)
M365_RESULTS = (
    "spf=pass (sender IP is 40.107.22.55) smtp.mailfrom=example.com; dkim=pass (signature"
    " was verified) header.d=example.com;dmarc=pass action=none"
    " header.from=example.com;compauth=pass reason=100"
)
M365_BESTGUESS = (
    "mx.microsoft.com 1; spf=pass (sender ip is 198.51.100.7) smtp.rcpttodomain=example.net"
    " smtp.mailfrom=bulk.test; dmarc=bestguesspass action=none header.from=example.com;"
    " dkim=none (message not signed) header.d=none; arc=none"
)
FASTMAIL = (
    "mx.messagingengine.com;    dkim=pass (2048-bit rsa key sha256) header.d=example.com"
    " header.i=@example.com header.b=AbCdEfGh header.a=rsa-sha256 header.s=fm1 x-bits=2048;"
    "    dmarc=pass policy.published-domain-policy=none policy.applied-disposition=none"
    " policy.evaluated-disposition=none (p=none,d=none,d.eval=none) policy.policy-from=p"
    " header.from=example.com;    iprev=pass smtp.remote-ip=203.0.113.5 (mail.example.com);"
    "    spf=pass smtp.mailfrom=agent@example.com smtp.helo=mail.example.com;"
    "    x-aligned-from=pass (Address match);    x-me-sender=none;"
    "    x-return-mx=pass header.domain=example.com policy.is_org=yes (MX Records found:"
    " mx1.example.com);    x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384"
    " smtp.bits=256/256;    x-vs=clean score=0 state=0"
)
FASTMAIL_ALTERED = (
    "mx.messagingengine.com;    dkim=fail (message has been altered; 2048-bit rsa key)"
    " header.d=example.com header.i=@example.com header.b=AbCdEfGh;"
    "    spf=softfail smtp.mailfrom=agent@example.com smtp.helo=relay.test;"
    "    x-me-sender=none"
)
OPENDMARC_PASS = f"{OURS}; dmarc=pass (p=none dis=none) header.from=example.com"
OPENDMARC_NONE = f"{OURS}; dmarc=none (p=none dis=none) header.from=example.com"
OPENDMARC_FAIL = f"{OURS}; dmarc=fail (p=reject dis=none) header.from=example.com"
POLICYD_SPF = f"{OURS}; spf=pass (sender SPF authorized) smtp.mailfrom=example.com"
POLICYD_SPF_FAIL = f"{OURS}; spf=fail (sender SPF not authorized) smtp.mailfrom=example.com"
OPENDKIM_PASS = (
    f"{OURS};\tdkim=pass (2048-bit key; unprotected) header.d=example.com"
    " header.i=@example.com header.a=rsa-sha256 header.s=s1 header.b=Ab12Cd34"
)
OPENDKIM_FAIL = f'{OURS};\tdkim=fail reason="signature verification failed" header.d=example.com'
FORGED_PASS = f"{OURS}; dmarc=pass header.from=example.com"

CASES: list[tuple[str, Headers, str, str, bool, str]] = [
    # (id, headers, from_email, authserv_id, ok, substring of reason)
    # --- real-world shapes ---
    ("gmail", ar(GMAIL), AGENT, "mx.google.com", True, "dmarc=pass header.from=example.com"),
    ("gmail-spoofed-arc-comment", ar(GMAIL_SPOOFED), AGENT, "mx.google.com", False, "dmarc=fail"),
    (
        "gmail-without-dmarc",
        ar("mx.google.com; dkim=pass header.i=@example.com header.s=sel header.b=Q1w2E3r4"),
        AGENT,
        "mx.google.com",
        True,
        "dkim=pass header.i=example.com (mx.google.com)",
    ),
    ("m365-shape-with-id", ar(f"{OURS}; {M365_RESULTS}"), AGENT, OURS, True, "dmarc=pass"),
    ("m365-native-has-no-id", ar(M365_RESULTS), AGENT, OURS, False, "no Authentication-Results"),
    (
        "m365-bestguesspass-version-1",
        ar(M365_BESTGUESS),
        AGENT,
        "mx.microsoft.com",
        False,
        "no pass aligned with example.com: spf=pass smtp.mailfrom=bulk.test",
    ),
    ("fastmail", ar(FASTMAIL), AGENT, "mx.messagingengine.com", True, "dmarc=pass"),
    (
        "fastmail-altered",
        ar(FASTMAIL_ALTERED),
        AGENT,
        "mx.messagingengine.com",
        False,
        "dkim=fail header.d=example.com, spf=softfail smtp.mailfrom=example.com "
        "(mx.messagingengine.com)",
    ),
    # --- several headers with our id: the contiguous topmost group ---
    (
        "opendmarc-spf-opendkim-group",
        ar(OPENDMARC_PASS, POLICYD_SPF, OPENDKIM_PASS),
        AGENT,
        OURS,
        True,
        "dmarc=pass",
    ),
    (
        "group-dkim-below-dmarc-none-counts",
        ar(OPENDMARC_NONE, OPENDKIM_PASS),
        AGENT,
        OURS,
        True,
        "dkim=pass header.d=example.com (mx.example.net)",
    ),
    (
        "group-dmarc-fail-below-vetoes",
        ar(OPENDKIM_PASS, OPENDMARC_FAIL),
        AGENT,
        OURS,
        False,
        "dmarc=fail overrides dkim=pass header.d=example.com",
    ),
    (
        "forged-pass-below-real-dmarc-fail",
        ar(OPENDMARC_FAIL, FORGED_PASS),
        AGENT,
        OURS,
        False,
        "dmarc=fail",
    ),
    (
        "forged-dkim-pass-below-real-dkim-fail-is-shadowed",
        ar(OPENDKIM_FAIL, POLICYD_SPF_FAIL, f"{OURS}; dkim=pass header.d=example.com"),
        AGENT,
        OURS,
        False,
        "dkim=fail header.d=example.com, spf=fail smtp.mailfrom=example.com",
    ),
    (
        "forged-below-a-foreign-header-is-ignored",
        ar(POLICYD_SPF_FAIL, "relay.example.org; spf=pass smtp.mailfrom=example.org", FORGED_PASS),
        AGENT,
        OURS,
        False,
        "spf=fail smtp.mailfrom=example.com (mx.example.net)",
    ),
    (
        "ours-below-a-foreign-header-is-not-topmost",
        ar("filter.internal; x-spam=clean score=1", OPENDMARC_PASS),
        AGENT,
        OURS,
        False,
        "the topmost Authentication-Results is not from mx.example.net",
    ),
    (
        "ours-below-an-unreadable-header-is-not-topmost",
        ar(M365_RESULTS, OPENDMARC_PASS),
        AGENT,
        OURS,
        False,
        "the topmost Authentication-Results is not from mx.example.net",
    ),
    # --- no trusted header ---
    (
        "wrong-authserv-id-only",
        ar("mx.google.com; dmarc=pass header.from=example.com"),
        AGENT,
        OURS,
        False,
        "no Authentication-Results from mx.example.net",
    ),
    ("no-header", {}, AGENT, OURS, False, "no Authentication-Results from mx.example.net"),
    (
        "arc-authentication-results-ignored",
        {"arc-authentication-results": (f"i=1; {OURS}; dmarc=pass header.from=example.com",)},
        AGENT,
        OURS,
        False,
        "no Authentication-Results",
    ),
    ("not-configured", ar(OPENDMARC_PASS), AGENT, "", False, "no trusted_authserv_id configured"),
    # --- alignment ---
    (
        "dkim-and-spf-pass-for-unrelated-domain",
        ar(f"{OURS}; dkim=pass header.d=mailer.test; spf=pass smtp.mailfrom=b@mailer.test"),
        AGENT,
        OURS,
        False,
        "no pass aligned with example.com: dkim=pass header.d=mailer.test",
    ),
    (
        "dmarc-fail-overrides-dkim-for-other-domain",
        ar(f"{OURS}; dkim=pass header.d=evil.test; dmarc=fail header.from=example.com"),
        AGENT,
        OURS,
        False,
        "dmarc=fail overrides dkim=pass header.d=evil.test",
    ),
    (
        "spf-pass-for-subdomain",
        ar(f"{OURS}; spf=pass smtp.mailfrom=bounces+123@mail.example.com"),
        AGENT,
        OURS,
        True,
        "spf=pass smtp.mailfrom=mail.example.com",
    ),
    (
        "dkim-parent-of-from-subdomain",
        ar(f"{OURS}; dkim=pass header.d=example.com"),
        "agent@support.example.com",
        OURS,
        True,
        "dkim=pass header.d=example.com",
    ),
    (
        "sibling-subdomains-not-aligned",
        ar(f"{OURS}; dkim=pass header.d=b.example.com"),
        "agent@a.example.com",
        OURS,
        False,
        "no pass aligned with a.example.com",
    ),
    (
        "lookalike-suffix-not-aligned",
        ar(f"{OURS}; dkim=pass header.d=badexample.com"),
        AGENT,
        OURS,
        False,
        "dkim=pass header.d=badexample.com",
    ),
    (
        "public-suffix-tld",
        ar(f"{OURS}; dkim=pass header.d=com"),
        AGENT,
        OURS,
        False,
        "no pass aligned",
    ),
    (
        "public-suffix-co-uk",
        ar(f"{OURS}; dkim=pass header.d=co.uk"),
        "agent@example.co.uk",
        OURS,
        False,
        "dkim=pass header.d=co.uk",
    ),
    (
        "public-suffix-com-au-spf",
        ar(f"{OURS}; spf=pass smtp.mailfrom=x@com.au"),
        "agent@shop.com.au",
        OURS,
        False,
        "spf=pass smtp.mailfrom=com.au",
    ),
    (
        "dkim-subdomain-of-from-under-co-uk",
        ar(f"{OURS}; dkim=pass header.d=evil.example.co.uk"),
        "agent@example.co.uk",
        OURS,
        True,
        "dkim=pass header.d=evil.example.co.uk",
    ),
    (
        "two-label-cctld-domain-is-not-a-suffix",
        ar(f"{OURS}; dkim=pass header.d=example.uk"),
        "agent@mail.example.uk",
        OURS,
        True,
        "dkim=pass header.d=example.uk",
    ),
    (
        "dmarc-header-from-must-equal",
        ar(f"{OURS}; dmarc=pass header.from=mail.example.com"),
        AGENT,
        OURS,
        False,
        "dmarc=pass header.from=mail.example.com",
    ),
    ("dmarc-without-header-from", ar(f"{OURS}; dmarc=pass"), AGENT, OURS, True, "dmarc=pass ("),
    (
        "spf-helo-only-is-not-enough",
        ar(f"{OURS}; spf=pass smtp.helo=mail.example.com"),
        AGENT,
        OURS,
        False,
        "spf=pass without smtp.mailfrom",
    ),
    (
        "dkim-header-i-only",
        ar(f"{OURS}; dkim=pass header.i=agent@example.com"),
        AGENT,
        OURS,
        True,
        "dkim=pass header.i=example.com",
    ),
    (
        "dkim-header-d-wins-over-header-i",
        ar(f"{OURS}; dkim=pass header.d=evil.test header.i=@example.com"),
        AGENT,
        OURS,
        False,
        "dkim=pass header.d=evil.test",
    ),
    (
        "second-dkim-signature-aligned",
        ar(f"{OURS}; dkim=pass header.d=esp.test; dkim=pass header.d=example.com"),
        AGENT,
        OURS,
        True,
        "dkim=pass header.d=example.com",
    ),
    (
        "idn-from-domain",
        ar(f"{OURS}; dkim=pass header.d=xn--bcher-kva.example"),
        "agent@bücher.example",
        OURS,
        True,
        "header.d=xn--bcher-kva.example",
    ),
    ("from-without-at", ar(FORGED_PASS), "agent", OURS, False, "no domain in sender address"),
    ("from-domain-empty", ar(FORGED_PASS), "agent@", OURS, False, "no domain in sender address"),
    # --- grammar corners ---
    (
        "comment-with-semicolon-and-equals",
        ar(
            f"{OURS}; spf=fail (x; dmarc=pass header.from=example.com (nested; dkim=pass"
            " header.d=example.com)) smtp.mailfrom=evil.test"
        ),
        AGENT,
        OURS,
        False,
        "spf=fail smtp.mailfrom=evil.test (mx.example.net)",
    ),
    (
        "escaped-paren-in-comment",
        ar(f"{OURS}; spf=fail (a \\) ; dmarc=pass header.from=example.com) smtp.mailfrom=e.test"),
        AGENT,
        OURS,
        False,
        "spf=fail smtp.mailfrom=e.test",
    ),
    (
        "quoted-values",
        ar(f'{OURS}; dkim=pass header.d="example.com" header.s="sel 1" header.b="a;b"'),
        AGENT,
        OURS,
        True,
        "dkim=pass header.d=example.com",
    ),
    (
        "quoted-local-part-with-semicolon",
        ar(f'{OURS}; spf=pass smtp.mailfrom="a;dmarc=pass"@evil.test'),
        AGENT,
        OURS,
        False,
        "spf=pass smtp.mailfrom=evil.test",
    ),
    ("quoted-authserv-id", ar(f'"{OURS}"; dmarc=pass'), AGENT, OURS, True, "dmarc=pass"),
    (
        "case-differences",
        ar("MX.Example.NET; DKIM=PASS Header.D=Example.COM"),
        "agent@EXAMPLE.com",
        "mx.EXAMPLE.net",
        True,
        "dkim=pass header.d=example.com",
    ),
    (
        "spaces-around-equals-and-reason",
        ar(f'{OURS} ; dkim = pass reason="good signature" header.d = example.com ;'),
        AGENT,
        OURS,
        True,
        "dkim=pass header.d=example.com",
    ),
    ("no-result", ar(f"{OURS}; none"), AGENT, OURS, False, "no dkim, spf or dmarc result"),
    ("id-alone", ar(OURS), AGENT, OURS, False, "no dkim, spf or dmarc result (mx.example.net)"),
    (
        "authserv-version-1",
        ar(f"{OURS} 1; dkim=pass header.d=example.com"),
        AGENT,
        OURS,
        True,
        "dkim=pass",
    ),
    (
        "authserv-version-with-comment",
        ar(f"{OURS} (our border) 1 ; dmarc=pass header.from=example.com"),
        AGENT,
        OURS,
        True,
        "dmarc=pass",
    ),
    (
        "authserv-version-2-unknown",
        ar(f"{OURS} 2; dkim=pass header.d=example.com"),
        AGENT,
        OURS,
        False,
        "no dkim, spf or dmarc result",
    ),
    (
        "method-version-1",
        ar(f"{OURS}; dkim/1=pass header.d=example.com"),
        AGENT,
        OURS,
        True,
        "dkim=pass",
    ),
    (
        "method-version-2-unknown",
        ar(f"{OURS}; dkim/2=pass header.d=example.com"),
        AGENT,
        OURS,
        False,
        "no dkim, spf or dmarc result",
    ),
    (
        "garbage-resinfos",
        ar(f"{OURS}; ===;;; dkim pass header.d example.com; =pass; header.d=example.com"),
        AGENT,
        OURS,
        False,
        "no dkim, spf or dmarc result",
    ),
    (
        "garbage-inside-a-result-drops-it",
        ar(f"{OURS}; dkim=pass header.d=example.com @@@; spf=neutral smtp.mailfrom=example.com"),
        AGENT,
        OURS,
        False,
        "spf=neutral smtp.mailfrom=example.com (mx.example.net)",
    ),
    (
        "garbage-domain",
        ar(f"{OURS}; dkim=pass header.d=exa..mple.com; dmarc=pass header.from=-"),
        AGENT,
        OURS,
        False,
        "no pass aligned",
    ),
    ("unterminated-comment", ar("((( mx.example.net; dmarc=pass"), AGENT, OURS, False, "no Auth"),
    (
        "unterminated-quote",
        ar(f'{OURS}; spf=neutral smtp.mailfrom=example.com; dkim=pass header.d="example.com'),
        AGENT,
        OURS,
        False,
        "spf=neutral smtp.mailfrom=example.com (mx.example.net)",
    ),
    (
        "cut-off-comment",
        ar(f"{OURS}; dkim=pass header.d=example.com (2048-bit key; unprotected"),
        AGENT,
        OURS,
        False,
        "no dkim, spf or dmarc result",
    ),
    ("control-characters", ar("\x00\x01;\x7f=\ufffd"), AGENT, OURS, False, "no Auth"),
]


@pytest.mark.parametrize(
    ("headers", "from_email", "authserv_id", "ok", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_verify_sender(
    headers: Headers, from_email: str, authserv_id: str, ok: bool, reason: str
) -> None:
    verdict = verify_sender(headers, from_email, authserv_id)
    assert verdict.ok is ok, verdict.reason
    assert reason in verdict.reason
    assert "\n" not in verdict.reason


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


def test_only_a_dmarc_fail_refutes() -> None:
    """`refuted` (the domain owner's DMARC said no) outweighs a signed reply address."""
    assert verify_sender(ar(OPENDKIM_PASS, OPENDMARC_FAIL), AGENT, OURS).refuted
    for headers in (ar(POLICYD_SPF_FAIL), ar(OPENDMARC_NONE), ar(OPENDMARC_PASS), {}):
        assert not verify_sender(headers, AGENT, OURS).refuted


def test_verdict_is_a_frozen_value() -> None:
    verdict = verify_sender({}, AGENT, "")
    assert verdict == Verdict(False, "no trusted_authserv_id configured")
    with pytest.raises(AttributeError):
        verdict.ok = False  # type: ignore[misc]


def test_folded_headers_from_a_parsed_message() -> None:
    """As `parse_message` hands them out: unfolded, topmost first, a forgery below."""
    raw = (
        b"Authentication-Results: mx.example.net;\r\n"
        b'\tdkim=fail reason="signature verification failed"\r\n'
        b"\t(2048-bit key; unprotected) header.d=example.com header.i=@example.com;\r\n"
        b"\tspf=softfail (domain owner discourages use of this host)\r\n"
        b"\tsmtp.mailfrom=example.com;\r\n"
        b"\tdmarc=fail (p=quarantine dis=quarantine) header.from=example.com\r\n"
        b"Received: from relay.test (relay.test [198.51.100.7])\r\n"
        b"\tby mx.example.net with ESMTPS; Mon, 06 Jan 2025 10:00:01 +0000\r\n"
        b"Authentication-Results: mx.example.net; dkim=pass header.d=example.com;\r\n"
        b"  dmarc=pass header.from=example.com\r\n"
        b"From: Agent <agent@example.com>\r\n"
        b"To: support@example.net\r\n"
        b"Subject: #close\r\n"
        b"\r\n"
        b"#close\r\n"
    )
    message = parse_message(raw)
    assert message.from_ is not None
    verdict = verify_sender(message.headers, message.from_.email, OURS, message.header_order)
    assert not verdict.ok
    assert verdict.reason.startswith("dmarc=fail (mx.example.net)")


_SENDER_PART = (
    b"Received: from relay.test (relay.test [198.51.100.7])\r\n"
    b"\tby mx.example.net with ESMTPS; Mon, 06 Jan 2025 10:00:01 +0000\r\n"
    b"Authentication-Results: mx.example.net; dmarc=pass header.from=example.com\r\n"
    b"From: Agent <agent@example.com>\r\n"
    b"To: support@example.net\r\n"
    b"Subject: #close\r\n"
    b"\r\n"
    b"#close\r\n"
)
_DELIVERY = (
    b"Return-Path: <agent@example.com>\r\n"
    b"Received: from mx.example.net by desk.example.net with LMTP;"
    b" Mon, 06 Jan 2025 10:00:02 +0000\r\n"
)


@pytest.mark.parametrize(
    ("top", "ok", "reason"),
    [
        pytest.param(
            f"Authentication-Results: {OURS}; spf=fail smtp.mailfrom=example.com\r\n".encode(),
            False,
            "spf=fail smtp.mailfrom=example.com (mx.example.net)",
            id="ours-on-top-a-pass-below-received-is-the-senders",
        ),
        pytest.param(b"", True, "dmarc=pass", id="only-the-senders-header-is-then-topmost"),
        pytest.param(
            _DELIVERY + f"Authentication-Results: {OURS}; dkim=none\r\n".encode(),
            False,
            "dkim=none (mx.example.net)",
            id="delivery-hops-above-ours-are-passed-over",
        ),
        pytest.param(
            b"Authentication-Results: filter.internal; x-spam=clean\r\n",
            False,
            "the topmost Authentication-Results is not from mx.example.net",
            id="a-foreign-header-on-top-hides-ours",
        ),
    ],
)
def test_a_received_header_ends_the_topmost_block(top: bytes, ok: bool, reason: str) -> None:
    """In a parsed message the order of all headers counts: an Authentication-Results
    with our id below the Received of the hop that brought the mail was written by
    the sender (the second case shows why the MTA must delete such headers: with
    nothing of its own above, the forgery is the topmost)."""
    message = parse_message(top + _SENDER_PART)
    verdict = verify_sender(message.headers, "agent@example.com", OURS, message.header_order)
    assert verdict.ok is ok, verdict.reason
    assert reason in verdict.reason


_GRAMMAR = st.sampled_from(
    [OURS, " ", "\t", ";", "=", "/", ".", "(", ")", '"', "\\", "@", "1", "2", "none", "pass"]
    + ["fail", "dkim", "spf", "dmarc", "header.d", "header.from", "smtp.mailfrom", "example.com"]
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.text(max_size=200) | st.lists(_GRAMMAR, max_size=40).map("".join)),
    from_email=st.text(max_size=40) | st.just(AGENT),
)
def test_never_raises(values: list[str], from_email: str) -> None:
    verdict = verify_sender(ar(*values), from_email, OURS)
    assert isinstance(verdict.ok, bool)
    assert verdict.reason and "\n" not in verdict.reason


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_GRAMMAR, max_size=40).map("".join), max_size=4))
def test_headers_below_a_failing_dmarc_never_pass(below: list[str]) -> None:
    """Whatever the sender adds below the MTA's header, a dmarc=fail stands."""
    verdict = verify_sender(ar(OPENDMARC_FAIL, *below), AGENT, OURS)
    assert not verdict.ok
