"""outbound.render: the mail and canned templates, and the renderer around them.

Where it sits in the flow: compose builds a context and asks for a template;
these tests render every built-in template with the sample context and its
variants, check that HTML escapes whatever a customer or agent wrote while text
shows it verbatim, that customer mails carry nothing internal, and that an
admin's override folder replaces single templates and fails loudly (file and
line) when broken.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import Markup

from maildesk.core.commands import cheat_sheet
from maildesk.outbound.render import (
    MAIL_TEMPLATES,
    Rendered,
    Renderer,
    TemplateError,
    datetime_filter,
    filesize_filter,
    paragraphs_filter,
    quote_filter,
    sample_context,
    tidy_text,
)

CUSTOMER_FACING = ("ack", "agent_reply", "resolved", "auto_close")
AGENT_FACING = (
    "notify_new",
    "notify_reply",
    "assigned",
    "command_error",
    "unverified",
    "sla_warning",
)
MANAGER_FACING = ("sla_breach", "digest")
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def bare(name: str) -> dict[str, Any]:
    """The sample context with every optional value empty or None."""
    context = sample_context(name)
    if name == "digest":
        return context | {"digest": bare_digest(), "manager_name": ""}
    context["ticket"] = context["ticket"] | {
        "category": None,
        "tags": [],
        "assignee_name": None,
        "requester_name": "",
    }
    options: dict[str, dict[str, Any]] = {
        "agent_reply": {"agent_name": None, "quoted": [], "satisfaction_url": None},
        "ack": {"message_excerpt": ""},
        "assigned": {"message": None},
        "resolved": {"satisfaction_url": None},
        "notify_new": {"message": context.get("message", {}) | {"attachments": [], "text": ""}},
        "notify_reply": {"message": context.get("message", {}) | {"attachments": [], "text": ""}},
        "command_error": {"kept_as_note": False},
        "unverified": {"excerpt": ""},
        "reply_held": {"excerpt": "", "arrived": []},
        "auto_close": {"days": 1},
        "sla_warning": {"target": "resolution", "time_left_seconds": 0},
        "sla_breach": {"priority_bumped_from": None, "escalation_level": 0},
        "mentioned": {"message": context.get("message", {}) | {"attachments": [], "text": ""}},
        "notify_note": {"message": context.get("message", {}) | {"attachments": [], "text": ""}},
        "snooze_ended": {},
        "reminder": {"text": ""},
        "close_warning": {},
        "waiting_closed": {"days": 1},
        "bounce": {"marked": []},
        "customer_decided": {"said": ""},
        "satisfaction": {},
    }
    return context | options[name]


def bare_digest() -> dict[str, Any]:
    """The sample digest with nobody assigned, no names and nothing measured."""
    figures = sample_context("digest")["digest"]
    nobody = {"assignee": None, "assignee_name": None}
    for key in ("breaches_24h", "at_risk_24h", "oldest_open"):
        figures[key] = [entry | nobody for entry in figures[key]]
    nothing = {
        "measured": 0,
        "met": 0,
        "compliance": None,
        "average_seconds": None,
        "median_seconds": None,
        "count": 0,
    }
    figures["compliance"] = {
        period: {"first_response": nothing, "resolution": nothing} for period in ("7d", "30d")
    }
    figures["times"] = {
        target: {"average_seconds": None, "median_seconds": None, "count": 0}
        for target in ("first_response", "resolution")
    }
    figures["agents"] = [
        agent | {"name": "", "first_response": nothing, "resolution": nothing}
        for agent in figures["agents"]
    ]
    return figures


def check_shape(rendered: Rendered, label: str = "SUP-00042") -> None:
    for part in (rendered.text, rendered.html):
        assert part.strip()
        assert label in part
        assert "None" not in part
        assert part.endswith("\n") and not part.endswith("\n\n")
        assert "\r" not in part
    for line in rendered.text.split("\n"):
        assert line == "-- " or line == line.rstrip(), repr(line)
    html = rendered.html
    assert '<html lang="en">' in html and '<meta charset="utf-8">' in html
    assert "max-width:640px" in html
    for banned in ("<script", "<img", "<link", "<style", "<iframe"):
        assert banned not in html.lower()


# --------------------------------------------------------------------------
# Every template
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAIL_TEMPLATES)
def test_every_template_renders_with_the_full_sample(renderer: Renderer, name: str) -> None:
    check_shape(renderer.render(name, sample_context(name)))


@pytest.mark.parametrize("name", MAIL_TEMPLATES)
def test_every_template_renders_with_optional_values_empty(renderer: Renderer, name: str) -> None:
    rendered = renderer.render(name, bare(name))
    check_shape(rendered)
    assert "Hello ," not in rendered.text  # an empty requester name is "there"


def test_desk_ticket_and_messages_may_be_objects(renderer: Renderer) -> None:
    for name in MAIL_TEMPLATES:
        context = sample_context(name)
        as_dicts = renderer.render(name, context)
        for key in ("desk", "ticket", "message"):
            if context.get(key) is not None:
                context[key] = SimpleNamespace(**context[key])
        assert renderer.render(name, context) == as_dicts


def test_sample_context_refuses_an_unknown_template() -> None:
    with pytest.raises(KeyError):
        sample_context("nope")


def test_check_passes_on_the_built_in_templates(renderer: Renderer) -> None:
    renderer.check()


# --------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------


def hostile(name: str) -> dict[str, Any]:
    context = sample_context(name)
    if name == "digest":
        return hostile_digest(context)
    context["ticket"] = context["ticket"] | {
        "subject": SCRIPT,
        "requester_name": IMG,
        "category": SCRIPT,
        "tags": [SCRIPT],
        "assignee_name": IMG,
    }
    context["desk"] = context["desk"] | {"name": "Acme <b>Support</b>"}
    if "message" in context:
        context["message"] = {
            "from_name": IMG,
            "from_email": "x@example.org",
            "text": f"look: {SCRIPT}\n<b>not bold</b>",
            "attachments": [{"filename": f"{IMG}.png", "size": 10}],
        }
    extra: dict[str, Any] = {
        "ack": {"message_excerpt": f"{SCRIPT} <b>hi</b>"},
        "agent_reply": {
            "body": "Use <b>this</b> & that.\n" + SCRIPT,
            "agent_name": IMG,
            "quoted": [{"from_name": IMG, "at": context["ticket"]["created_at"], "text": SCRIPT}],
        },
        "notify_new": {"automated": SCRIPT},
        "notify_reply": {"automated": SCRIPT, "reopened": True},
        "assigned": {"assigned_by": IMG},
        "command_error": {"errors": [f"line 1: #tag {SCRIPT}: bad tag"]},
        "sla_breach": {"priority_bumped_from": SCRIPT},
        "bounce": {"failed": [{"email": IMG, "status": "5.1.1", "diagnostic": SCRIPT}]},
    }
    return context | extra.get(name, {})


def hostile_digest(context: dict[str, Any]) -> dict[str, Any]:
    """Whatever customers, agents and admins wrote, in every place the digest shows it."""
    figures = context["digest"]
    people = {"subject": SCRIPT, "assignee": IMG, "assignee_name": IMG, "priority": SCRIPT}
    for key in ("breaches_24h", "at_risk_24h", "oldest_open"):
        figures[key] = [entry | people for entry in figures[key]]
    figures["oldest_open"] = [entry | {"status": SCRIPT} for entry in figures["oldest_open"]]
    figures["agents"] = [agent | {"name": IMG, "email": IMG} for agent in figures["agents"]]
    figures["open_by_priority"] = {SCRIPT: 1}
    figures["open_by_status"] = {SCRIPT: 1}
    figures["open_by_status_priority"] = {SCRIPT: {SCRIPT: 1}}
    return context | {
        "desk": context["desk"] | {"name": "Acme <b>Support</b>"},
        "digest": figures,
        "manager_name": IMG,
        "date": SCRIPT,
        "timezone": SCRIPT,
    }


@pytest.mark.parametrize("name", MAIL_TEMPLATES)
def test_html_escapes_hostile_values_and_text_shows_them_verbatim(
    renderer: Renderer, name: str
) -> None:
    rendered = renderer.render(name, hostile(name))
    html = rendered.html.lower()
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the subject, at least
    assert "&lt;b&gt;support&lt;/b&gt;" in html
    assert SCRIPT in rendered.text
    assert "Acme <b>Support</b>" in rendered.text


def test_agent_reply_body_shows_markup_literally(renderer: Renderer) -> None:
    context = sample_context("agent_reply") | {"body": "Press <b>Save</b> & wait.\nThen reload."}
    rendered = renderer.render("agent_reply", context)
    assert "Press <b>Save</b> & wait.\nThen reload." in rendered.text
    assert "Press &lt;b&gt;Save&lt;/b&gt; &amp; wait.<br>\nThen reload." in rendered.html


# --------------------------------------------------------------------------
# Filters and tidying
# --------------------------------------------------------------------------


def test_paragraphs_keeps_line_breaks_and_escapes() -> None:
    html = paragraphs_filter("one\r\ntwo <i>\n\n\n  \nthree & four\n")
    assert isinstance(html, Markup)
    assert re.findall(r"<p[^>]*>(.*?)</p>", html, re.S) == [
        "one<br>\ntwo &lt;i&gt;",
        "three &amp; four",
    ]
    assert paragraphs_filter(None) == "" and paragraphs_filter("  \n") == ""


def test_quote_prefixes_every_line() -> None:
    assert quote_filter("a\n\n> b\r\nc  ") == "> a\n>\n> > b\n> c"
    assert quote_filter(None) == ">"


def test_datetime_is_shown_in_utc() -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    assert datetime_filter(dt.datetime(2026, 11, 22, 15, 5, 59, tzinfo=cet)) == (
        "2026-11-22 14:05 UTC"
    )
    assert datetime_filter(dt.datetime(2026, 11, 22, 14, 5)) == "2026-11-22 14:05 UTC"
    assert datetime_filter(dt.date(2026, 11, 22)) == "2026-11-22"
    with pytest.raises(TypeError):
        datetime_filter("2026-11-22")  # type: ignore[arg-type]


def test_filesize_is_readable() -> None:
    assert filesize_filter(0) == "0 bytes"
    assert filesize_filter(1023) == "1023 bytes"
    assert filesize_filter(48213) == "47.1 KB"
    assert filesize_filter(5 * 1024 * 1024) == "5.0 MB"
    assert filesize_filter(3 * 1024**4) == "3072.0 GB"


def test_tidy_text_normalises_lines_but_keeps_the_signature_separator() -> None:
    assert tidy_text("\n\nHi  \r\nthere\t\r\r-- \n-- x  \n\n\n") == "Hi\nthere\n\n-- \n-- x\n"
    assert tidy_text("") == "\n"


# --------------------------------------------------------------------------
# What each mail says
# --------------------------------------------------------------------------


def test_ack_gives_the_reference_the_status_link_and_what_they_wrote(renderer: Renderer) -> None:
    context = sample_context("ack")
    rendered = renderer.render("ack", context)
    assert "[SUP-00042]" in rendered.text and "reply" in rendered.text
    assert context["status_url"] in rendered.text
    assert f'href="{context["status_url"]}"' in rendered.html
    assert "> since this morning's update I cannot log in." in rendered.text


def test_agent_reply_resolved_offers_the_rating_link(renderer: Renderer) -> None:
    url = "http://127.0.0.1:8080/rate/SUP-00042/abc123"
    context = sample_context("agent_reply") | {"resolved": True, "satisfaction_url": url}
    rendered = renderer.render("agent_reply", context)
    for part in (rendered.text, rendered.html):
        assert "This ticket is now resolved" in part
        assert url in part


def test_agent_reply_resolved_without_rating_link(renderer: Renderer) -> None:
    context = sample_context("agent_reply") | {"resolved": True, "satisfaction_url": None}
    rendered = renderer.render("agent_reply", context)
    assert "now resolved" in rendered.text
    assert "rate" not in rendered.text.lower()


def test_agent_reply_not_resolved_says_nothing_about_it(renderer: Renderer) -> None:
    url = "http://127.0.0.1:8080/rate/SUP-00042/abc123"
    context = sample_context("agent_reply") | {"resolved": False, "satisfaction_url": url}
    rendered = renderer.render("agent_reply", context)
    for part in (rendered.text, rendered.html):
        assert "resolved" not in part.lower()
        assert url not in part


def test_agent_reply_signs_with_the_agent_or_the_desk(renderer: Renderer) -> None:
    named = renderer.render("agent_reply", sample_context("agent_reply"))
    assert "Does that help?\n\nGrace Hopper\nExample Support\n" in named.text
    assert "Grace Hopper<br>Example Support" in named.html

    context = sample_context("agent_reply") | {"agent_name": None}
    context["ticket"] = context["ticket"] | {"assignee_name": None}
    hidden = renderer.render("agent_reply", context)
    assert "Does that help?\n\nExample Support\n" in hidden.text
    for part in (hidden.text, hidden.html):
        assert "Grace Hopper" not in part


def test_agent_reply_quotes_only_the_latest_message(renderer: Renderer) -> None:
    rendered = renderer.render("agent_reply", sample_context("agent_reply"))
    assert "On 2026-11-22 14:25 UTC, Ada Lovelace wrote:\n> Here is the screenshot.\n" in (
        rendered.text
    )
    assert "<blockquote" in rendered.html and "Here is the screenshot." in rendered.html
    for part in (rendered.text, rendered.html):
        assert "since this morning" not in part

    unquoted = renderer.render("agent_reply", sample_context("agent_reply") | {"quoted": []})
    assert "wrote:" not in unquoted.text and "<blockquote" not in unquoted.html


@pytest.mark.parametrize("name", CUSTOMER_FACING)
def test_customer_mails_carry_nothing_internal(renderer: Renderer, name: str) -> None:
    sheet = cheat_sheet()
    context = sample_context(name) | {"cheat_sheet": sheet}
    if name == "agent_reply":
        context["agent_name"] = None
    rendered = renderer.render(name, context)
    for part in (rendered.text, rendered.html):
        assert "#status" not in part and "#assign" not in part
        for line in sheet.splitlines():
            assert line.strip() not in part
        assert context["ticket_url"] not in part
        assert "Grace Hopper" not in part  # the assignee
        assert "Priority" not in part and "accounts" not in part


@pytest.mark.parametrize("name", AGENT_FACING)
def test_agent_mails_carry_the_cheat_sheet_and_the_ticket_link(
    renderer: Renderer, name: str
) -> None:
    context = sample_context(name)
    rendered = renderer.render(name, context)
    assert context["cheat_sheet"] in rendered.text
    assert "#status new|open" in rendered.html and "<pre" in rendered.html
    assert context["ticket_url"] in rendered.text
    assert f'href="{context["ticket_url"]}"' in rendered.html


@pytest.mark.parametrize("name", ("notify_new", "notify_reply"))
def test_notifications_explain_replying_and_warn_about_automated_mail(
    renderer: Renderer, name: str
) -> None:
    plain = renderer.render(name, sample_context(name))
    assert "Reply to this mail to answer the customer" in plain.text
    assert "lines starting with # at the" in plain.text
    assert "Priority:  high" in plain.text and "screenshot.png (47.1 KB)" in plain.text
    assert "automated" not in plain.text

    flagged = renderer.render(name, sample_context(name) | {"automated": "bulk: List-Id"})
    for part in (flagged.text, flagged.html):
        assert "automated mail (bulk: List-Id)" in part
        assert "Nobody should expect an answer" in part


def test_notify_reply_says_when_the_reply_reopened_the_ticket(renderer: Renderer) -> None:
    context = sample_context("notify_reply")
    assert "reopened" not in renderer.render("notify_reply", context).text
    rendered = renderer.render("notify_reply", context | {"reopened": True})
    assert "This reply reopened the ticket." in rendered.text
    assert "This reply reopened the ticket." in rendered.html


def test_assigned_names_who_assigned_it_and_shows_the_latest_message(renderer: Renderer) -> None:
    rendered = renderer.render("assigned", sample_context("assigned"))
    assert "Alan Turing assigned SUP-00042 to you" in rendered.text
    assert "Latest message from the customer" in rendered.text
    without = renderer.render("assigned", sample_context("assigned") | {"message": None})
    assert "Latest message" not in without.text and "Latest message" not in without.html


def test_command_error_lists_the_errors_and_where_the_text_went(renderer: Renderer) -> None:
    context = sample_context("command_error")
    kept = renderer.render("command_error", context)
    for error in context["errors"]:
        assert f"  {error}\n" in kept.text
    assert "was not sent" in kept.text and "kept as an internal note" in kept.text
    dropped = renderer.render("command_error", context | {"kept_as_note": False})
    assert "kept as an internal note" not in dropped.text and "sent mail" in dropped.text
    assert "kept as an internal note" not in dropped.html


def test_auto_close_counts_the_days(renderer: Renderer) -> None:
    seven = renderer.render("auto_close", sample_context("auto_close"))
    assert "7 days" in seven.text and "7 days" in seven.html
    assert "just reply" in seven.text
    one = renderer.render("auto_close", sample_context("auto_close") | {"days": 1})
    assert "1 day since" in one.text


def test_sla_warning_says_which_target_when_and_how_long(renderer: Renderer) -> None:
    rendered = renderer.render("sla_warning", sample_context("sla_warning"))
    line = "will breach its first response target at 2026-11-22 16:05 UTC (in 1 h 12 min)."
    assert f"SUP-00042 {line}" in rendered.text
    assert f"<strong>SUP-00042</strong> {line}" in rendered.html
    assert "reply to this mail to answer them" in rendered.text
    resolution = sample_context("sla_warning") | {"target": "resolution"}
    later = renderer.render("sla_warning", resolution | {"time_left_seconds": 2 * 86400 + 3 * 3600})
    for part in (later.text, later.html):
        assert "its resolution target" in part and "(in 2 d 3 h)" in part
        assert "#status waiting_on_customer" in part
    soon = renderer.render("sla_warning", resolution | {"time_left_seconds": 59})
    assert "(in under 1 min)" in soon.text
    hours = renderer.render("sla_warning", resolution | {"time_left_seconds": 7200})
    assert "(in 2 h)" in hours.text


def test_sla_breach_gives_due_breach_escalation_and_priority(renderer: Renderer) -> None:
    rendered = renderer.render("sla_breach", sample_context("sla_breach"))
    assert "SLA breach: SUP-00042 missed its resolution target." in rendered.text
    assert "Due:        2026-11-22 22:05 UTC\nBreached:   2026-11-22 22:06 UTC\n" in rendered.text
    assert "Escalation: level 1\n" in rendered.text
    assert "raised from medium to high" in rendered.text
    for value in ("2026-11-22 22:05 UTC", "2026-11-22 22:06 UTC", "level 1", "from medium"):
        assert value in rendered.html
    context = sample_context("sla_breach") | {"priority_bumped_from": None, "target": "x"}
    plain = renderer.render("sla_breach", context | {"target": "first_response"})
    assert "missed its first response target" in plain.text
    for part in (plain.text, plain.html):
        assert "raised" not in part


@pytest.mark.parametrize("name", MANAGER_FACING)
def test_manager_mails_link_the_ticket_or_nothing(renderer: Renderer, name: str) -> None:
    context = sample_context(name)
    rendered = renderer.render(name, context)
    links = re.findall(r'href="([^"]*)"', rendered.html)
    if name == "digest":
        assert links == ["mailto:support@example.com"]
    else:
        assert context["ticket_url"] in rendered.text and context["ticket_url"] in links


def test_digest_shows_every_figure_in_both_parts(renderer: Renderer) -> None:
    rendered = renderer.render("digest", sample_context("digest"))
    text, html = rendered.text, rendered.html
    assert "Hello Alan Turing," in text and "for 2026-11-23 (Europe/Berlin)" in text
    assert "OPEN TICKETS: 9" in text and "Open tickets: 9" in html
    assert "  high           ###############..... 3\n" in text  # 3 of the largest, 4
    assert "  waiting_on_customer    1 (1 medium)\n" in text
    for value in (
        "SUP-00042 [high] Cannot log in after the update",
        "first response breached 2026-11-23 09:06 UTC (due 2026-11-23 09:05 UTC)",
        "resolution due 2026-11-23 15:17 UTC (in 1 h 12 min); assignee: unassigned",
        "First response, 7 days   ##################.. 90% (9 of 10 met)",
        "Resolution, 30 days      #################... 85.7% (30 of 35 met)",
        "First response:  average 50 min, median 40 min (40 tickets)",
        "Resolution:      average 1 d 1 h, median 20 h (35 tickets)",
        "  Grace Hopper <grace@example.com>\n    #################### 6 open\n",
        "  alan@example.com\n    .................... 0 open\n",
        "first response n/a (nothing measured)",
        "open for 12 d 3 h (since 2026-11-11 11:05 UTC), status waiting_on_customer",
    ):
        assert value in text, value
    for value in (
        "Cannot log in after the update",
        "2026-11-23 09:06 UTC",
        "2026-11-23 15:17 UTC (in 1 h 12 min)",
        "90% (9 of 10 met)",
        "85.7% (30 of 35 met)",
        "50 min",
        "1 d 1 h",
        "Grace Hopper &lt;grace@example.com&gt;",
        "6 open",
        "12 d 3 h",
        "Export times out",
    ):
        assert value in html, value
    # Bars: a coloured cell as wide as its share (high: 3 of 4), the rest grey.
    assert 'width="75%" height="14" bgcolor="#ea580c"' in html
    assert 'width="25%" height="14" bgcolor="#e5e7eb"' in html
    assert 'width="90%" height="14" bgcolor="#d97706"' in html  # 7-day first response


def test_digest_of_a_quiet_desk(renderer: Renderer) -> None:
    context = sample_context("digest")
    rendered = renderer.render("digest", context | {"digest": bare_digest() | EMPTY})
    text, html = rendered.text, rendered.html
    assert "OPEN TICKETS: 0" in text and "No open tickets." in html
    assert text.count("  (none)\n") == 5  # priorities, breaches, at risk, agents, oldest
    assert "n/a (nothing measured)" in text and "n/a (nothing measured)" in html
    assert "average n/a, median n/a (0 tickets)" in text
    assert "None" not in text and "None" not in html
    assert "Hello Alan Turing," in text


EMPTY: dict[str, Any] = {
    "open_total": 0,
    "open_by_status": dict.fromkeys(("new", "open", "in_progress", "waiting_on_customer"), 0),
    "open_by_priority": {},
    "open_by_status_priority": {},
    "breaches_24h": [],
    "at_risk_24h": [],
    "agents": [],
    "oldest_open": [],
}


# --------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------


def test_override_replaces_one_template_and_keeps_the_others(tmp_path: Path) -> None:
    write(tmp_path, "mail/ack.html", '<html lang="en"><p>Ours: {{ ticket.label }}</p></html>\n')
    renderer = Renderer(tmp_path)
    ack = renderer.render("ack", sample_context("ack"))
    assert ack.html == '<html lang="en"><p>Ours: SUP-00042</p></html>\n'
    assert ack.text == Renderer().render("ack", sample_context("ack")).text
    resolved = renderer.render("resolved", sample_context("resolved"))
    assert resolved == Renderer().render("resolved", sample_context("resolved"))


def test_override_of_the_base_layout_applies_to_every_mail(tmp_path: Path) -> None:
    write(tmp_path, "mail/_base.txt", "{% block content %}{% endblock %}\nBrand footer\n")
    renderer = Renderer(tmp_path)
    for name in MAIL_TEMPLATES:
        assert renderer.render(name, sample_context(name)).text.endswith("\nBrand footer\n")


def test_override_with_an_undefined_variable_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mail/ack.txt", "Hello\n{{ ticket.nmae }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).render("ack", sample_context("ack"))
    message = str(info.value)
    assert f"{path}, line 2" in message and "nmae" in message
    assert "\n" not in message


def test_override_with_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mail/resolved.html", "<p>\n{% if %}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).render("resolved", sample_context("resolved"))
    assert f"{path}, line 2" in str(info.value)


def test_error_in_a_built_in_layout_names_it(tmp_path: Path) -> None:
    # An override child on the built-in layout, missing a variable the layout needs.
    write(tmp_path, "mail/ack.txt", '{% extends "mail/_base.txt" %}\n')
    context = sample_context("ack")
    del context["status_url"]
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).render("ack", context)
    assert "mail/_base.txt (built-in), line" in str(info.value)
    assert "status_url" in str(info.value)


def test_sandbox_refuses_unsafe_attributes(tmp_path: Path) -> None:
    write(tmp_path, "mail/ack.txt", "{{ ticket.label.__class__.__mro__ }}\n")
    with pytest.raises(TemplateError, match="unsafe"):
        Renderer(tmp_path).render("ack", sample_context("ack"))


def test_a_missing_or_misnamed_template_is_an_error(renderer: Renderer, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"mail/nope\.txt: template not found"):
        renderer.render("nope", sample_context("ack"))
    with pytest.raises(TemplateError, match="invalid"):
        renderer.render("../ack", sample_context("ack"))
    with pytest.raises(TemplateError, match="invalid"):
        renderer.render("_base", sample_context("ack"))
    write(tmp_path, "mail/extra.txt", "only text\n")
    with pytest.raises(TemplateError, match=r"mail/extra\.html: template not found"):
        Renderer(tmp_path).render("extra", sample_context("ack"))


def test_a_missing_override_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        Renderer(tmp_path / "nowhere")


def test_check_fails_on_a_broken_override(tmp_path: Path) -> None:
    write(tmp_path, "mail/auto_close.html", "{{ days }} {{ dayz }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).check()
    assert "mail/auto_close.html, line 1" in str(info.value) and "dayz" in str(info.value)


def test_check_reaches_branches_the_main_sample_skips(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mail/agent_reply.txt",
        "{{ body }}\n{% if not agent_name %}{{ desk.nmae }}{% endif %}\n",
    )
    renderer = Renderer(tmp_path)
    renderer.render("agent_reply", sample_context("agent_reply"))  # agent named: fine
    with pytest.raises(TemplateError, match="nmae"):
        renderer.check()


def test_check_reports_every_broken_file_once(tmp_path: Path) -> None:
    write(tmp_path, "mail/ack.txt", "{{ nope }}\n")
    write(tmp_path, "canned/thanks.txt", "{{ nope2 }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).check()
    message = str(info.value)
    assert message.count("mail/ack.txt") == 1 and "canned/thanks.txt" in message


def test_check_fails_on_an_empty_part(tmp_path: Path) -> None:
    write(tmp_path, "mail/resolved.txt", "{# nothing #}\n")
    with pytest.raises(TemplateError, match=r"mail/resolved\.txt: renders empty"):
        Renderer(tmp_path).check()


# --------------------------------------------------------------------------
# Canned responses
# --------------------------------------------------------------------------


def test_canned_renders_text(renderer: Renderer) -> None:
    context = sample_context("canned")
    for name in ("thanks", "need-more-info", "password-reset"):
        text = renderer.canned(name, context)
        assert text.startswith("Hello Ada Lovelace,\n\n")
        assert text.endswith("\n") and not text.endswith("\n\n")
        assert "None" not in text
    assert "SUP-00042" in renderer.canned("need-more-info", context)
    assert renderer.canned("  THANKS ", context) == renderer.canned("thanks", context)


def test_canned_names_lists_built_ins_and_overrides(tmp_path: Path) -> None:
    assert Renderer().canned_names() == ["need-more-info", "password-reset", "thanks"]
    write(tmp_path, "canned/refund.txt", "Refund for {{ ticket.label }}.\n")
    write(tmp_path, "canned/thanks.txt", "Cheers, {{ desk.name }}!\n")
    write(tmp_path, "canned/_draft.txt", "not a response\n")
    write(tmp_path, "canned/notes.md", "not a response\n")
    renderer = Renderer(tmp_path)
    assert renderer.canned_names() == ["need-more-info", "password-reset", "refund", "thanks"]
    assert renderer.canned("thanks", sample_context("canned")) == "Cheers, Example Support!\n"
    assert renderer.canned("refund", sample_context("canned")) == "Refund for SUP-00042.\n"


def test_unknown_canned_name_lists_the_available_ones(renderer: Renderer) -> None:
    with pytest.raises(TemplateError) as info:
        renderer.canned("refund", sample_context("canned"))
    assert "'refund'" in str(info.value)
    assert "available: need-more-info, password-reset, thanks" in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["../etc/passwd", "../../mail/ack", "/etc/passwd", "thanks.txt", "-thanks", "_x", "", "a b"],
)
def test_canned_names_with_path_tricks_are_refused(renderer: Renderer, name: str) -> None:
    with pytest.raises(TemplateError, match="invalid canned response name"):
        renderer.canned(name, sample_context("canned"))


def test_canned_undefined_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "canned/refund.txt", "Hi\n\n{{ ticket.refund_amount }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(tmp_path).canned("refund", sample_context("canned"))
    assert f"{path}, line 3" in str(info.value)


def test_a_canned_response_cannot_carry_a_status_link(tmp_path: Path) -> None:
    """A canned text is relayed to every participant and shown on the status page: the
    requester's status link in it would let each CC act as the requester."""
    write(tmp_path, "canned/follow.txt", "Follow it here: {{ status_url }}\n")
    renderer = Renderer(tmp_path)
    with pytest.raises(TemplateError) as caught:
        renderer.check()
    assert "canned/follow.txt" in str(caught.value) and "status_url" in str(caught.value)
