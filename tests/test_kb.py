"""The knowledge base: articles imported from a folder of Markdown files (and exported
back), listed and shown by the CLI, and suggested in the acknowledgement when they
match the customer's mail well enough (telling words, rarity and titles; the index
of words kept current across processes).

Through the real entry points (`maildesk kb ...`, `maildesk ingest`, the outbox), on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maildesk.knowledge import catalog
from maildesk.knowledge.index import ArticleIndex
from maildesk.knowledge.suggest import Postings, most_holding, ranked
from maildesk.tickets import agents
from tests.conftest import Install, opened, write_config
from tests.conversation import customer_mail, maildir_mails, reply, text_of
from tests.web_support import site

ARTICLES = {
    "reset-password.md": """---
title: Resetting your password
tags: [login, password]
category: Accounts
published: true
---
Open **Settings**, choose *Password* and follow the link we mail you.
""",
    "printer.md": """---
title: Printer shows error E42
slug: printer-e42
category: Hardware
published: true
---
Error E42 means the paper tray of the printer is jammed. Open the tray and remove
the paper, then switch the printer off and on.
""",
    "draft.md": """---
title: Printer paper jams, the long story
slug: jams-draft
---
Printer paper jams happen when the printer tray is overfull.
""",
}


def folder_of(root: Path, files: dict[str, str]) -> Path:
    folder = root / "articles"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_import_list_show_and_export_round_trip(desk: Install, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, ARTICLES)
    first = desk.json("kb", "import", str(folder))
    assert sorted(first["created"]) == ["jams-draft", "printer-e42", "reset-password"]
    again = desk.json("kb", "import", str(folder))  # idempotent
    assert again["created"] == [] and again["updated"] == [] and len(again["unchanged"]) == 3

    listed = {a["slug"]: a for a in desk.json("kb", "list")}
    assert listed["printer-e42"]["title"] == "Printer shows error E42"
    assert listed["printer-e42"]["category"] == "Hardware"
    assert listed["reset-password"]["tags"] == ["login", "password"]
    assert listed["jams-draft"]["published"] is False  # published defaults to false
    published = desk.json("kb", "list", "--published")
    assert sorted(a["slug"] for a in published) == ["printer-e42", "reset-password"]

    shown = desk.json("kb", "show", "reset-password")
    assert "<strong>Settings</strong>" in shown["html"]

    # A changed file updates its article (by slug); export writes what import reads.
    (folder / "printer.md").write_text(
        ARTICLES["printer.md"].replace("E42", "E43"), encoding="utf-8"
    )
    assert desk.json("kb", "import", str(folder))["updated"] == ["printer-e42"]
    out = tmp_path / "out"
    result = desk.run("kb", "export", str(out))
    assert result.exit_code == 0 and "3 articles" in result.stdout
    assert "title: Printer shows error E43" in (out / "printer-e42.md").read_text()
    # What export wrote reads back as the same articles: nothing to change.
    back = desk.json("kb", "import", str(out))
    assert back["created"] == [] and back["updated"] == [] and len(back["unchanged"]) == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\nslug: x\n---\nNo title.\n", "title: required"),
        ("---\ntitle: T\nslug: Bad Slug\n---\nx\n", "slug:"),
        ("---\ntitle: T\ncolour: red\n---\nx\n", "unknown front-matter key 'colour'"),
        ("---\ntitle: [unclosed\n---\nx\n", "not valid YAML"),
        ("---\ntitle: T\npublished: maybe\n---\nx\n", "published: true or false"),
        ("---\ntitle: T\ndesk: nosuch\n---\nx\n", "no desk 'nosuch'"),
    ],
)
def test_a_bad_file_imports_nothing(desk: Install, tmp_path: Path, text: str, problem: str) -> None:
    folder = folder_of(tmp_path, {**ARTICLES, "bad.md": text})
    result = desk.run("kb", "import", str(folder))
    assert result.exit_code == 1 and problem in result.stderr, result.stderr
    assert desk.json("kb", "list") == []  # all or nothing


def test_the_same_slug_twice_is_refused(desk: Install, tmp_path: Path) -> None:
    folder = folder_of(tmp_path, {"a.md": "---\ntitle: A\nslug: same\n---\nx\n"})
    (folder / "sub").mkdir()
    (folder / "sub" / "b.md").write_text("---\ntitle: B\nslug: same\n---\ny\n")
    result = desk.run("kb", "import", str(folder))
    assert result.exit_code == 1 and "'same'" in result.stderr


def _ack(desk: Install, subject: str, body: str) -> str:
    [line] = desk.ingest(customer_mail(subject=subject, body=body))
    assert line["action"] == "created"
    assert desk.run("outbox", "send").exit_code == 0
    [ack] = [m for m in maildir_mails(desk.root / "outbox") if line["ticket"] in m["Subject"]]
    return text_of(ack)


def test_the_acknowledgement_suggests_matching_articles(desk: Install, tmp_path: Path) -> None:
    desk.run("kb", "import", str(folder_of(tmp_path, ARTICLES)))
    text = _ack(desk, "Printer error", "Hello, my printer shows error E42 since this morning.")
    assert "These articles may answer your question" in text
    assert "Printer shows error E42" in text
    assert "/kb/printer-e42?ticket=SUP-00001&t=" in text
    assert "long story" not in text  # a draft is never suggested
    assert "Resetting your password" not in text  # one shared word is not enough
    ticket = desk.json("tickets", "show", "SUP-00001")
    [suggested] = [e["data"] for e in ticket["events"] if e["type"] == "kb_suggested"]
    assert suggested == {"articles": ["printer-e42"]}


def test_no_suggestion_when_nothing_matches_well(desk: Install, tmp_path: Path) -> None:
    desk.run("kb", "import", str(folder_of(tmp_path, ARTICLES)))
    text = _ack(desk, "Invoice", "Hello, I was charged twice for the printer.")
    assert "These articles" not in text and "/kb/" not in text


def test_suggestions_can_be_turned_off(tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url, "[kb]\nsuggestions = 0\n")
    desk = Install(config, database_url, tmp_path)
    desk.run("kb", "import", str(folder_of(tmp_path, ARTICLES)))
    text = _ack(desk, "Printer error", "My printer shows error E42.")
    assert "/kb/" not in text


# -- agents: the suggestions in their notice, `#kb SLUG` in a reply -------------------------


def _notice(desk: Install, subject: str, body: str) -> tuple[str, object]:
    added = desk.run("agents", "add", "ann@example.com", "--name", "Ann")
    assert added.exit_code == 0, added.output
    [line] = desk.ingest(customer_mail(subject=subject, body=body))
    assert desk.run("outbox", "send").exit_code == 0
    mails = maildir_mails(desk.root / "outbox")
    [notice] = [m for m in mails if "ann@example.com" in str(m["To"])]
    return line["ticket"], notice


def test_agents_see_the_suggestions_and_link_an_article_with_kb(
    desk: Install, tmp_path: Path
) -> None:
    desk.run("kb", "import", str(folder_of(tmp_path, ARTICLES)))
    label, notice = _notice(desk, "Printer error", "My printer shows error E42 again.")
    assert "#kb printer-e42" in text_of(notice)

    body = "#kb reset-password\n\nHello Carl, this may help with your account too."
    desk.ingest(reply(notice, "Ann <ann@example.com>", body, headers=None))
    assert desk.run("outbox", "send").exit_code == 0
    relayed = [
        m
        for m in maildir_mails(desk.root / "outbox")
        if "carl@customer.test" in str(m["To"]) and "this may help" in text_of(m)
    ]
    assert len(relayed) == 1
    text = text_of(relayed[0]).replace("\r\n", "\n")
    assert "Resetting your password\nhttp://127.0.0.1:8080/kb/reset-password" in text
    assert "#kb" not in text
    events = desk.json("tickets", "show", label)["events"]
    assert {"article": "reset-password"} in [e["data"] for e in events if e["type"] == "kb_linked"]


@pytest.mark.parametrize("slug", ["nosuch", "jams-draft"])
def test_kb_with_an_unknown_or_draft_article_rejects_the_reply(
    desk: Install, tmp_path: Path, slug: str
) -> None:
    desk.run("kb", "import", str(folder_of(tmp_path, ARTICLES)))
    label, notice = _notice(desk, "Printer error", "My printer shows error E42 again.")
    desk.ingest(reply(notice, "Ann <ann@example.com>", f"#kb {slug}\n\nSee this."))
    events = desk.json("tickets", "show", label)["events"]
    [rejected] = [e["data"] for e in events if e["type"] == "commands_rejected"]
    assert rejected["errors"] == [f"#kb {slug}: no published article of this desk"]
    assert desk.run("outbox", "send").exit_code == 0
    sent = [m for m in maildir_mails(desk.root / "outbox") if "See this." in text_of(m)]
    assert not [m for m in sent if "carl@customer.test" in str(m["To"])]


def test_kb_from_the_api(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        s.add_agent("ann@example.com", "Ann")
        s.cli("kb", "import", str(folder_of(tmp_path, ARTICLES)))
        s.ingest(customer_mail(subject="Login", body="I cannot log in."))
        token = agents.create_token(s.runtime.db, "ann@example.com", "test", s.runtime.clock())
        headers = {"Authorization": f"Bearer {token}"}
        posted = s.client.post(
            "/api/tickets/SUP-00001/messages",
            json={"text": "#kb reset-password\n\nPlease follow this."},
            headers=headers,
        )
        assert posted.status_code == 201, posted.text
        bad = s.client.post(
            "/api/tickets/SUP-00001/messages",
            json={"text": "#kb nosuch\n\nPlease follow this."},
            headers=headers,
        )
        assert bad.status_code == 422 and "#kb nosuch" in bad.text
        shown = s.client.get("/api/tickets/SUP-00001", headers=headers).json()
        [answer] = [m for m in shown["messages"] if m["kind"] == "agent"]
        assert "Resetting your password" in answer["body_text"]


def test_the_reply_box_finds_articles_to_link(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        s.add_agent("ann@example.com", "Ann")
        s.cli("kb", "import", str(folder_of(tmp_path, ARTICLES)))
        s.ingest(customer_mail(subject="Login", body="I cannot log in."))
        assert s.sign_in("ann@example.com").status_code == 303
        page = s.client.get("/tickets/SUP-00001", params={"kb": "printer tray"})
        assert page.status_code == 200
        assert "#kb printer-e42" in page.text and 'href="/kb/printer-e42"' in page.text
        assert "jams-draft" not in page.text  # a draft is not there to link
        none = s.client.get("/tickets/SUP-00001", params={"kb": "<b>zebra</b>"})
        assert "No published article of this desk matches." in none.text
        assert "<b>zebra</b>" not in none.text  # the query is shown escaped
        assert "#kb" not in s.client.get("/tickets/SUP-00001").text.split('id="reply"')[1]


# -- how suggestions are chosen ---------------------------------------------------------


def test_ranking_needs_two_telling_words_and_weighs_rarity_and_titles() -> None:
    def held(*articles: int, titled: tuple[int, ...] = (), holding: int = 0) -> Postings:
        return Postings(holding or len(articles), frozenset(articles), frozenset(titled))

    postings = {
        "gearbox": held(1, 2, 3, titled=(2,)),  # rare-ish, in article 2's title
        "noise": held(1, 2, 3, 4),
        "rattle": held(4, 5),  # the rarest
        "common": Postings(900),  # in too many articles: not telling, counts nowhere
        "nowhere": Postings(0),
    }
    words = ["gearbox", "noise", "rattle", "common", "nowhere"]
    allowed = frozenset({1, 2, 3, 4, 5})
    # 2 holds both words like 1 and 3, but one of them in its title; 4 holds the
    # rarest word; 5 holds only one telling word; ties go to the older article.
    assert ranked(words, postings, 1000, allowed, 2, 10) == [2, 4, 1, 3]
    assert ranked(words, postings, 1000, allowed, 2, 2) == [2, 4]
    assert ranked(words, postings, 1000, frozenset({1, 3, 5}), 2, 10) == [1, 3]  # drafts out
    assert ranked(words, postings, 1000, allowed, 3, 10) == []
    assert ranked(["gearbox", "common"], postings, 1000, allowed, 2, 10) == []
    assert most_holding(20) == 10 and most_holding(5000) == 250


def many_articles(root: Path, count: int) -> Path:
    """`count` articles that all mention widgets; one of them also gearboxes and noise."""
    files = {
        f"a{n}.md": f"---\ntitle: Widget topic {n}\npublished: true\n---\nWidget care, part {n}.\n"
        for n in range(count)
    }
    files["a0.md"] = (
        "---\ntitle: Gearbox noise\npublished: true\n---\nA widget gearbox makes noise.\n"
    )
    return folder_of(root, files)


def test_a_word_in_too_many_articles_does_not_count(desk: Install, tmp_path: Path) -> None:
    desk.run("kb", "import", str(many_articles(tmp_path, 12)))  # widget: in 12 of 12 > 10
    assert "/kb/" not in _ack(desk, "Widget gearbox", "My widget and its gearbox.")
    assert "/kb/a0?" in _ack(desk, "Gearbox noise", "The gearbox makes noise.")


def test_the_index_sees_articles_written_elsewhere(database_url: str, tmp_path: Path) -> None:
    desk = Install(write_config(tmp_path, database_url), database_url, tmp_path)
    desk.run("kb", "import", str(folder_of(tmp_path, {"p.md": ARTICLES["printer.md"]})))
    now = [0.0]
    index = ArticleIndex(clock=lambda: now[0])
    with opened(database_url) as db:

        def suggested(subject: str, text: str) -> list[str]:
            found = catalog.suggested(db, index, "default", "default", subject, text, 3, 2)
            return [entry.slug for entry in found]

        assert suggested("Printer error", "E42 again") == ["printer-e42"]
        assert suggested("Password reset", "I forgot my password, reset please") == []
        # Another process imports an article: the stamp moves; read within a second.
        more = folder_of(tmp_path, {"reset-password.md": ARTICLES["reset-password.md"]})
        assert desk.run("kb", "import", str(more)).exit_code == 0
        assert suggested("Password reset", "I forgot my password, reset please") == []
        now[0] += 1.5
        assert suggested("Password reset", "I forgot my password, reset please") == [
            "reset-password"
        ]
        index.forget()  # this process's own writes: at once
        assert suggested("Printer error", "E42 again") == ["printer-e42"]


def test_kb_from_the_ticket_page(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        s.add_agent("ann@example.com", "Ann")
        s.cli("kb", "import", str(folder_of(tmp_path, ARTICLES)))
        s.ingest(customer_mail(subject="Login", body="I cannot log in."))
        assert s.sign_in("ann@example.com").status_code == 303
        text = "#kb reset-password\n\nThis explains it."
        sent = s.post("/tickets/SUP-00001/reply", {"text": text, "kind": "reply"})
        assert sent.status_code == 303, sent.text
        refused = s.post("/tickets/SUP-00001/reply", {"text": "#kb nosuch\n\nx", "kind": "reply"})
        assert refused.status_code == 422 and "#kb nosuch" in refused.text
        shown = s.cli("tickets", "show", "SUP-00001", "--json")
        assert shown.exit_code == 0
        [answer] = [m for m in json.loads(shown.stdout)["messages"] if m["kind"] == "agent"]
        body = answer["body_text"].replace("\r\n", "\n")
        assert body.endswith(
            "This explains it.\n\nResetting your password\nhttp://testserver/kb/reset-password"
        )
