"""SLA tracking, routing and the scheduled jobs through the CLI, travelling in time with
`--now`: `ingest --now` opens tickets at a chosen moment, `sla scan --now` and
`digest send --now` run the daemon's jobs as of another. On SQLite and PostgreSQL.

The calendar: Europe/Berlin, Monday to Friday 09:00-17:00 (UTC+1 in November).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Install, write_config
from tests.conversation import customer_mail, parse, reply, text_of

CARL = "Carl Customer <carl@customer.test>"
ANN = "Ann Agent <ann@example.com>"

SLA = """
[sla]
timezone = "Europe/Berlin"
business_hours = ["mon-fri 09:00-17:00"]
holidays = ["2025-12-24"]
targets = ["urgent 1h 8h", "high 4h 24h", "medium 8h 72h", "low 24h 168h"]
warn_percent = 75
escalation_addresses = ["boss@example.com"]
digest_time = "08:00"
"""

FRIDAY_1730 = "2025-11-21T17:30:00+01:00"


@pytest.fixture
def sla_desk(desk: Install) -> Install:
    write_config(desk.root, desk.database_url, SLA)
    for email, name, role in (
        ("ann@example.com", "Ann Agent", "agent"),
        ("mia@example.com", "Mia Manager", "manager"),
    ):
        assert desk.run("agents", "add", email, "--name", name, "--role", role).exit_code == 0
    return desk


def ingest_at(desk: Install, raw: bytes, now: str) -> dict[str, Any]:
    result = desk.run("ingest", "--json", "--now", now, "-", input=raw)
    assert result.exit_code == 0, result.output
    line: dict[str, Any] = __import__("json").loads(result.stdout.splitlines()[0])
    return line


def scan(desk: Install, now: str) -> str:
    result = desk.run("sla", "scan", "--now", now)
    assert result.exit_code == 0, result.output
    return result.stdout


def show(desk: Install, label: str = "SUP-00001") -> dict[str, Any]:
    ticket = desk.json("tickets", "show", label)
    assert isinstance(ticket, dict)
    return ticket


def purposes(desk: Install) -> list[str]:
    return sorted(row["purpose"] for row in desk.json("outbox", "list"))


def test_friday_evening_ticket_is_due_on_monday(sla_desk: Install) -> None:
    line = ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    assert line["action"] == "created"
    ticket = show(sla_desk)
    # 8 business hours from Friday 17:30 (closed): Monday 09:00 + 8 h = 17:00 (16:00 UTC)
    assert ticket["first_response_due"] == "2025-11-24T16:00:00+00:00"
    # 72 h = nine business days: Monday 24th ... Thursday 4 December, 17:00
    assert ticket["resolution_due"] == "2025-12-04T16:00:00+00:00"
    sla = ticket["sla"]
    assert sla["policy"] == {"first_response_seconds": 28800, "resolution_seconds": 259200}
    assert sla["first_response"]["breached_at"] is None


def test_warning_and_breach_come_once_whenever_the_scan_runs(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    baseline = purposes(sla_desk)  # the ack and Ann's notification
    # Every twenty minutes from Monday 08:00 to 18:00 local; each CLI run is a restart.
    for hour in range(8, 18):
        for minute in (0, 20, 40):
            scan(sla_desk, f"2025-11-24T{hour:02d}:{minute:02d}:00+01:00")
    added = purposes(sla_desk)
    for purpose in baseline:
        added.remove(purpose)
    # one warning to Ann (75 % = 6 h: 15:00), one breach to boss@ and to Mia (17:00)
    assert added == ["sla_breach", "sla_breach", "sla_warning"]
    ticket = show(sla_desk)
    assert ticket["sla"]["first_response"]["warned_at"] == "2025-11-24T14:00:00+00:00"
    # the breach is recorded at the due time, not when the scan noticed it (17:20)
    assert ticket["sla"]["first_response"]["breached_at"] == "2025-11-24T16:00:00+00:00"
    assert ticket["escalation_level"] == 1
    assert ticket["first_response_breached"] is True
    types = [e["type"] for e in ticket["events"]]
    assert types.count("sla_warning") == 1 and types.count("sla_breached") == 1
    # scanning again, later, changes nothing
    scan(sla_desk, "2025-11-25T12:00:00+01:00")
    assert len(purposes(sla_desk)) == len(baseline) + 3


def test_a_late_scan_still_dates_the_breach_at_the_due_time(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    scan(sla_desk, "2025-11-26T09:30:00+01:00")  # the daemon was down until Wednesday
    ticket = show(sla_desk)
    assert ticket["sla"]["first_response"]["breached_at"] == "2025-11-24T16:00:00+00:00"
    assert ticket["sla"]["first_response"]["warned_at"] is None  # no warning after the fact


def test_first_response_met_and_the_pause_while_waiting(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    notice = parse_outbox_mail(sla_desk, "notify_new")
    # Ann answers Monday 10:00: first response met, the ticket waits on the customer
    ingest_at(sla_desk, reply(notice, ANN, "Please restart it."), "2025-11-24T10:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["first_response_at"] == "2025-11-24T09:00:00+00:00"
    assert ticket["sla"]["first_response"]["met"] is True
    assert ticket["sla"]["resolution"]["paused"] is True
    assert ticket["resolution_due"] is None  # no due time while the clock stands still
    relayed = parse_outbox_mail(sla_desk, "agent_reply")
    # Carl answers Wednesday 11:00: paused Monday 10-17 (7 h), Tuesday (8 h), Wednesday
    # 9-11 (2 h): 17 business hours; Thursday 4 December 17:00 + 17 h -> Tuesday 9 Dec 10:00
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-26T11:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["status"] == "open"
    assert ticket["sla"]["resolution"]["paused"] is False
    assert ticket["sla"]["resolution"]["paused_seconds"] == 17 * 3600
    assert ticket["resolution_due"] == "2025-12-09T09:00:00+00:00"


def test_priority_change_keeps_the_time_elapsed(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), "2025-11-24T09:00:00+01:00")  # Monday
    notice = parse_outbox_mail(sla_desk, "notify_new")
    # at 11:00 two business hours have passed; urgent: 1 h first response -> due 10:00
    ingest_at(
        sla_desk, reply(notice, ANN, "#priority urgent\n#note\n\nVIP."), "2025-11-24T11:00:00+01:00"
    )
    ticket = show(sla_desk)
    assert ticket["priority"] == "urgent"
    assert ticket["first_response_due"] == "2025-11-24T09:00:00+00:00"
    assert ticket["resolution_due"] == "2025-11-24T16:00:00+00:00"
    scan(sla_desk, "2025-11-24T11:01:00+01:00")
    assert show(sla_desk)["sla"]["first_response"]["breached_at"] == "2025-11-24T09:00:00+00:00"


def test_auto_close_after_three_days_with_a_notice(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), "2025-11-24T09:00:00+01:00")
    notice = parse_outbox_mail(sla_desk, "notify_new")
    ingest_at(sla_desk, reply(notice, ANN, "#resolve\n\nDone."), "2025-11-24T10:00:00+01:00")
    scan(sla_desk, "2025-11-27T09:59:00+01:00")
    assert show(sla_desk)["status"] == "resolved"
    scan(sla_desk, "2025-11-27T10:00:00+01:00")
    scan(sla_desk, "2025-11-27T10:01:00+01:00")
    ticket = show(sla_desk)
    assert ticket["status"] == "closed"
    assert purposes(sla_desk).count("auto_close") == 1
    assert "auto_closed" in [e["type"] for e in ticket["events"]]


def test_digest_once_per_manager_per_day(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    dry = sla_desk.run("digest", "send", "--now", "2025-11-25T08:30:00+01:00", "--dry-run")
    assert dry.exit_code == 0 and "SUP-00001" in dry.stdout
    assert "digest" not in purposes(sla_desk)
    figures = sla_desk.json("digest", "send", "--now", "2025-11-25T08:30:00+01:00", "--dry-run")
    assert figures["open_total"] == 1
    assert [b["label"] for b in figures["breaches_24h"]] == []  # no scan has run yet
    assert figures["oldest_open"][0]["label"] == "SUP-00001"
    assert sla_desk.run("digest", "send", "--json").exit_code == 2
    early = sla_desk.run("digest", "send", "--now", "2025-11-25T07:59:00+01:00")
    assert early.exit_code == 0 and "no digest due" in early.stderr
    for minute in ("08:00", "08:01", "12:00", "23:59"):
        assert (
            sla_desk.run("digest", "send", "--now", f"2025-11-25T{minute}:00+01:00").exit_code == 0
        )
    assert purposes(sla_desk).count("digest") == 1
    sla_desk.run("digest", "send", "--now", "2025-11-26T08:00:00+01:00")
    assert purposes(sla_desk).count("digest") == 2


def test_digest_from_two_processes_at_once_is_sent_once(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    command = [
        sys.executable, "-m", "maildesk", "digest", "send",
        "--config", str(sla_desk.config_path), "--now", "2025-11-25T09:00:00+01:00",
    ]  # fmt: skip
    procs = [subprocess.Popen(command, cwd=sla_desk.root, stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        assert proc.wait(60) == 0
        assert proc.stderr is not None
        proc.stderr.close()
    assert purposes(sla_desk).count("digest") == 1


def test_report_sla(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), FRIDAY_1730)
    scan(sla_desk, "2025-11-25T09:00:00+01:00")
    report = sla_desk.json(
        "report",
        "sla",
        "--since",
        "2025-11-01T00:00:00+00:00",
        "--until",
        "2025-12-01T00:00:00+00:00",
    )
    assert report["created"] == 1
    assert report["first_response"]["measured"] == 1 and report["first_response"]["met"] == 0
    text = sla_desk.run("report", "sla", "--since", "2025-11-01", "--until", "2025-12-01")
    assert text.exit_code == 0 and "first response" in text.stdout.lower()
    bad = sla_desk.run("report", "sla", "--since", "2025-12-01", "--until", "2025-11-01")
    assert bad.exit_code == 2


def test_bad_now_and_bad_sla_config_are_usage_errors(sla_desk: Install) -> None:
    assert sla_desk.run("sla", "scan", "--now", "yesterday").exit_code == 2
    for extra, key in (
        ('[sla]\ntimezone = "Mars/Olympus"\n', "sla.timezone"),
        ('[sla]\nbusiness_hours = ["mon-fri 17:00-09:00"]\n', "sla.business_hours"),
        ('[sla]\ntargets = ["asap 1h 2h"]\n', "sla.targets"),
        ('[sla]\ntargets = ["high 1x 2h"]\n', "sla.targets"),
        ('[sla]\ndigest_time = "8 o\'clock"\n', "sla.digest_time"),
        ('[[rule]]\nset_category = "x"\n', "rule[0]"),
        ('[[rule]]\nkeyword = ["x"]\nset_priority = "asap"\n', "rule[0]"),
    ):
        write_config(sla_desk.root, sla_desk.database_url, extra)
        result = sla_desk.run("check-config")
        assert result.exit_code == 2, (extra, result.output)
        assert key in result.stderr, (extra, result.stderr)


# -- routing and auto-assignment ----------------------------------------------------------

RULES = """
[[rule]]
name = "billing address"
recipient = ["billing@example.com"]
set_category = "billing"

[[rule]]
name = "outage words"
keyword = ["outage", "down", "not working"]
set_priority = "high"
add_tags = ["incident"]

[[rule]]
name = "big customer"
sender_domain = ["bigcorp.test"]
add_tags = ["vip"]

[[category]]
name = "billing"
agents = ["ann@example.com", "bob@example.com", "cid@example.com"]
assign = "round_robin"
"""


@pytest.fixture
def routed_desk(desk: Install) -> Iterator[Install]:
    write_config(desk.root, desk.database_url, RULES)
    for email, name in (
        ("ann@example.com", "Ann"),
        ("bob@example.com", "Bob"),
        ("cid@example.com", "Cid"),
    ):
        assert desk.run("agents", "add", email, "--name", name).exit_code == 0
    yield desk


def test_routing_by_recipient_domain_and_keyword(routed_desk: Install) -> None:
    desk = routed_desk
    desk.ingest(
        customer_mail(CARL, to="billing@example.com", subject="Invoice question"),
        customer_mail("Dee <dee@sub.bigcorp.test>", subject="The portal is down"),
        customer_mail(CARL, subject="Download link", body="Where can I download it?"),
    )
    billing, outage, plain = (show(desk, f"SUP-0000{n}") for n in (1, 2, 3))
    assert (billing["category"], billing["priority"]) == ("billing", "medium")
    assert billing["assignee"] is not None
    assert (outage["category"], outage["priority"]) == (None, "high")
    assert outage["tags"] == ["incident", "vip"]
    assert (plain["priority"], plain["tags"]) == ("medium", [])  # "download" is not "down"
    routed = [e for e in outage["events"] if e["type"] == "routed"]
    assert routed[0]["data"]["rules"] == ["outage words", "big customer"]


def test_round_robin_is_fair_and_skips_away_agents(routed_desk: Install) -> None:
    desk = routed_desk
    mails = [
        customer_mail(f"C{n} <c{n}@customer.test>", to="billing@example.com", subject=f"Q{n}")
        for n in range(30)
    ]
    desk.ingest(*mails[:15])
    assert desk.run("agents", "set", "bob@example.com", "--away").exit_code == 0
    desk.ingest(*mails[15:])
    tickets = desk.json("tickets", "list", "--limit", "100")
    first = [t["assignee"] for t in sorted(tickets, key=lambda t: t["number"])[:15]]
    later = [t["assignee"] for t in sorted(tickets, key=lambda t: t["number"])[15:]]
    assert [first.count(a) for a in ("ann@example.com", "bob@example.com", "cid@example.com")] == [
        5,
        5,
        5,
    ]
    assert first[:3] == ["ann@example.com", "bob@example.com", "cid@example.com"]
    assert "bob@example.com" not in later
    assert later.count("ann@example.com") in (7, 8) and later.count("cid@example.com") in (7, 8)


def parse_outbox_mail(desk: Install, purpose: str) -> Any:
    """The latest queued mail of this purpose, composed as it will be sent."""
    result = desk.run("outbox", "send")
    assert result.exit_code == 0, result.output
    rows = [r for r in desk.json("outbox", "list") if r["purpose"] == purpose]
    assert rows, purpose
    path = desk.root / "outbox" / "new" / f"{rows[0]['id']}.eml"
    mail = parse(path.read_bytes())
    assert text_of(mail)
    return mail


def test_concurrent_scans_warn_and_escalate_once(sla_desk: Install) -> None:
    for n in range(5):
        ingest_at(
            sla_desk, customer_mail(f"C{n} <c{n}@customer.test>", subject=f"Q{n}"), FRIDAY_1730
        )
    before = len(purposes(sla_desk))
    command = [
        sys.executable, "-m", "maildesk", "sla", "scan",
        "--config", str(sla_desk.config_path), "--now", "2025-11-24T17:30:00+01:00",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            command, cwd=sla_desk.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.wait(60) == 0
        assert proc.stderr is not None
        proc.stderr.close()
    # each of the five tickets breached its first response: one breach mail to boss@ and one
    # to Mia per ticket, and no warning (the breach came first: the scan was late)
    all_purposes = purposes(sla_desk)
    assert all_purposes.count("sla_breach") == 10 and all_purposes.count("sla_warning") == 0
    assert len(all_purposes) == before + 10
    for n in range(1, 6):
        assert show(sla_desk, f"SUP-0000{n}")["escalation_level"] == 1


def test_time_spent_resolved_does_not_count_after_a_reopen(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), "2025-11-24T09:00:00+01:00")  # Monday
    notice = parse_outbox_mail(sla_desk, "notify_new")
    ingest_at(sla_desk, reply(notice, ANN, "#resolve\n\nFixed."), "2025-11-24T11:00:00+01:00")
    resolved = show(sla_desk)
    assert resolved["status"] == "resolved"
    assert resolved["resolution_due"] == "2025-12-04T16:00:00+00:00"  # kept while resolved
    relayed = parse_outbox_mail(sla_desk, "agent_reply")
    # Carl answers two weeks later (the ticket was resolved, not closed): it reopens with
    # the clock where it stood: 2 business hours used, 70 left from Monday 8 Dec 09:00
    ingest_at(sla_desk, reply(relayed, CARL, "It is broken again."), "2025-12-08T09:00:00+01:00")
    reopened = show(sla_desk)
    assert reopened["status"] == "open"
    # resolved Monday 11:00 until Monday 8 Dec 09:00: 6 + 4 * 8 + 5 * 8 business hours
    assert reopened["sla"]["resolution"]["paused_seconds"] == 78 * 3600
    assert reopened["sla"]["resolution"]["paused"] is False
    # 70 h = 8 days and 6 h: Mon 8 ... Wed 17 Dec (8 days), then Thu 18 Dec 15:00
    assert reopened["resolution_due"] == "2025-12-18T14:00:00+00:00"
    scan(sla_desk, "2025-12-08T09:05:00+01:00")
    assert show(sla_desk)["sla"]["resolution"]["breached_at"] is None


# -- a target met late, with or without a scan in between --------------------------------

MONDAY_0900 = "2025-11-24T09:00:00+01:00"
# medium: first response 8 h -> Monday 17:00; resolution 72 h -> Thursday 4 December 17:00
LATE = {
    "first_response": ("2025-11-24T17:01:00+01:00", "2025-11-24T17:05:00+01:00"),
    "resolution": ("2025-12-04T17:01:00+01:00", "2025-12-04T17:05:00+01:00"),
}
DUE = {"first_response": "2025-11-24T16:00:00+00:00", "resolution": "2025-12-04T16:00:00+00:00"}


@pytest.mark.parametrize("target", ["first_response", "resolution"])
@pytest.mark.parametrize("first", ["answer", "scan"])
def test_a_target_met_late_escalates_once_whoever_sees_it_first(
    sla_desk: Install, target: str, first: str
) -> None:
    write_config(sla_desk.root, sla_desk.database_url, SLA + "escalation_bump_priority = true\n")
    ingest_at(sla_desk, customer_mail(CARL), MONDAY_0900)
    notice = parse_outbox_mail(sla_desk, "notify_new")
    scan_at, answer_at = LATE[target]
    if target == "resolution":  # answered in time, worked on (the clock runs), resolved late
        answer = reply(notice, ANN, "#status in_progress\n\nOn it.")
        ingest_at(sla_desk, answer, "2025-11-24T10:00:00+01:00")
        text = "#resolve\n\nFixed."
    else:
        text = "Please restart it."
    if first == "scan":
        scan(sla_desk, scan_at)
    ingest_at(sla_desk, reply(notice, ANN, text), answer_at)
    scan(sla_desk, "2025-12-05T12:00:00+01:00")  # later passes change nothing

    ticket = show(sla_desk)
    assert ticket["sla"][target]["breached_at"] == DUE[target]
    assert ticket["sla"][target]["met"] is False
    assert ticket["escalation_level"] == 1
    assert ticket["priority"] == "high"  # bumped once, from medium
    breaches = [e for e in ticket["events"] if e["type"] == "sla_breached"]
    assert [e["data"]["target"] for e in breaches] == [target]
    sent = [row for row in sla_desk.json("outbox", "list") if row["purpose"] == "sla_breach"]
    assert sorted(to for row in sent for to in row["to"]) == [
        "boss@example.com",
        "mia@example.com",
    ]


# -- a category change onto another calendar ----------------------------------------------

AROUND_THE_CLOCK = """
[[sla_policy]]
category = "outage"
business_hours = ["24/7"]
"""


def test_a_category_change_keeps_the_business_time_already_elapsed(sla_desk: Install) -> None:
    write_config(sla_desk.root, sla_desk.database_url, SLA + AROUND_THE_CLOCK)
    ingest_at(sla_desk, customer_mail(CARL), "2025-11-21T16:00:00+01:00")  # Friday
    notice = parse_outbox_mail(sla_desk, "notify_new")
    # Saturday 10:00 it becomes an outage (24/7). One business hour had elapsed (Friday
    # 16-17): 7 h of the first response and 71 h of the resolution are left, from now on.
    note = reply(notice, ANN, "#category outage\n#note\n\nThis is an outage.")
    ingest_at(sla_desk, note, "2025-11-22T10:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["category"] == "outage"
    assert ticket["first_response_due"] == "2025-11-22T16:00:00+00:00"  # Saturday 17:00
    assert ticket["resolution_due"] == "2025-11-25T08:00:00+00:00"  # Tuesday 09:00
    assert "breaches 1" not in scan(sla_desk, "2025-11-22T10:01:00+01:00")
    assert show(sla_desk)["sla"]["first_response"]["breached_at"] is None

    # The customer waits on an answer 2 h (Saturday 10-12) after the change: the first
    # response has then counted 1 h + 2 h of its 8 h.
    relayed = reply(notice, ANN, "Looking into it.")
    ingest_at(sla_desk, relayed, "2025-11-22T12:00:00+01:00")
    answered = show(sla_desk)["sla"]["first_response"]
    assert answered["met"] is True and answered["elapsed_seconds"] == 3 * 3600
    # Back to a business-hours category on Monday 09:00 (the ticket waited on the
    # customer since Saturday 12:00): the resolution has counted 1 h + 2 h; 69 h are
    # left, from Monday 09:00 on business hours: eight days and 5 h -> Thursday 4 Dec 14:00
    back = reply(notice, ANN, "#category billing\n#status open\n#note\n\nNot an outage.")
    ingest_at(sla_desk, back, "2025-11-24T09:00:00+01:00")
    ticket = show(sla_desk)
    assert ticket["category"] == "billing"
    assert ticket["resolution_due"] == "2025-12-04T13:00:00+00:00"
    scan(sla_desk, "2025-11-24T09:01:00+01:00")
    assert show(sla_desk)["sla"]["resolution"]["breached_at"] is None


def test_report_and_tickets_show_agree_on_the_resolution_time(sla_desk: Install) -> None:
    ingest_at(sla_desk, customer_mail(CARL), MONDAY_0900)
    notice = parse_outbox_mail(sla_desk, "notify_new")
    # Ann answers Monday 11:00 (2 business hours): it waits on Carl until Wednesday
    # 10:00 (left out), then Ann resolves it Wednesday 12:00 (2 more).
    ingest_at(sla_desk, reply(notice, ANN, "Please restart it."), "2025-11-24T11:00:00+01:00")
    relayed = parse_outbox_mail(sla_desk, "agent_reply")
    ingest_at(sla_desk, reply(relayed, CARL, "Still broken."), "2025-11-26T10:00:00+01:00")
    latest = parse_outbox_mail(sla_desk, "notify_reply")  # of Carl's answer
    ingest_at(sla_desk, reply(latest, ANN, "#resolve\n\nFixed."), "2025-11-26T12:00:00+01:00")
    shown = show(sla_desk)["sla"]
    report = sla_desk.json("report", "sla", "--since", "2025-11-01", "--until", "2025-12-01")
    assert shown["resolution"]["elapsed_seconds"] == 4 * 3600
    assert report["resolution"]["average_seconds"] == 4 * 3600
    assert shown["first_response"]["elapsed_seconds"] == 2 * 3600
    assert report["first_response"]["average_seconds"] == 2 * 3600
