"""@mentions and followers from the web view and the JSON API: a note with @name from
the reply box, a reply with a mention refused with the draft kept, the Follow /
Unfollow button and the followers listed on the ticket page; GET, POST and DELETE
/api/tickets/{label}/followers, answers checked against their published schemas.

On SQLite and PostgreSQL. Mail sent is read from the outbox.
"""

from __future__ import annotations

import html
from pathlib import Path

from maildesk.store.models import Agent, Follower, Message, Outbox
from tests.api_support import bearer, check_answer, described, two_desks
from tests.conversation import customer_mail
from tests.web_support import Site, site


def queued(purpose: str) -> list[list[str]]:
    query = Outbox.select().where(Outbox.purpose == purpose).order_by(Outbox.id)
    return [row.recipients for row in query]


def follower_emails(ticket: int = 1) -> dict[str, str]:
    query = Follower.select(Follower, Agent).join(Agent).where(Follower.ticket == ticket)
    return {row.agent.email: row.how for row in query}


def agents_and_ticket(s: Site) -> None:
    s.add_agent("ann@example.com", "Ann Agent")
    s.add_agent("bob@example.com", "Bob Agent")
    s.ingest(customer_mail(subject="Printer on fire"))
    assert s.sign_in("ann@example.com").status_code == 303


def test_a_note_with_a_mention_from_the_reply_box(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        agents_and_ticket(s)
        sent = s.post("/tickets/SUP-00001/reply", {"text": "@bob the toner?", "kind": "note"})
        assert sent.status_code == 303, sent.text
        assert queued("mentioned") == [["bob@example.com"]]
        assert follower_emails() == {"bob@example.com": "mention"}
        page = s.client.get("/tickets/SUP-00001").text
        assert "Bob Agent" in page and "mentioned since" in page


def test_a_reply_with_a_mention_is_refused_and_the_draft_kept(
    tmp_path: Path, database_url: str
) -> None:
    with site(tmp_path, database_url) as s:
        agents_and_ticket(s)
        before = Message.select().count()
        draft = "Hello Carl, @bob will call you."
        refused = s.post("/tickets/SUP-00001/reply", {"text": draft, "kind": "reply"})
        assert refused.status_code == 422
        assert "would reach them" in refused.text
        assert html.escape(draft) in refused.text  # the reply box still holds it
        assert Message.select().count() == before
        assert queued("agent_reply") == [] and queued("mentioned") == []
        unknown = s.post("/tickets/SUP-00001/reply", {"text": "@zed look", "kind": "note"})
        assert unknown.status_code == 422 and "@zed: not an agent" in unknown.text


def test_follow_and_unfollow_buttons(tmp_path: Path, database_url: str) -> None:
    with site(tmp_path, database_url) as s:
        agents_and_ticket(s)
        page = s.client.get("/tickets/SUP-00001").text
        assert "Nobody follows this ticket." in page
        assert 'name="action" value="follow"' in page
        form = "/tickets/SUP-00001"
        done = s.post("/tickets/SUP-00001/follow", {"action": "follow"}, form_page=form)
        assert done.status_code == 303, done.text
        assert follower_emails() == {"ann@example.com": "follow"}
        page = s.client.get("/tickets/SUP-00001").text
        assert "Ann Agent" in page and 'name="action" value="unfollow"' in page
        # The customer writes: nobody is assigned, so everyone on duty hears of it, Ann
        # (on duty and following) once.
        s.ingest(customer_mail(subject="Re: [SUP-00001] Printer on fire", body="Smoke!"))
        assert sorted(sum(queued("notify_reply"), [])) == ["ann@example.com", "bob@example.com"]
        done = s.post("/tickets/SUP-00001/follow", {"action": "unfollow"}, form_page=form)
        assert done.status_code == 303
        assert follower_emails() == {}
        bad = s.post("/tickets/SUP-00001/follow", {"action": "stalk"}, form_page=form)
        assert bad.status_code == 400


# -- the API ---------------------------------------------------------------------------


PATH = "/api/tickets/{label}/followers"


def test_followers_through_the_api(tmp_path: Path, database_url: str) -> None:
    with two_desks(tmp_path, database_url) as s:
        document = described(s)
        assert set(document["paths"][PATH]) == {"get", "post", "delete"}
        ann = bearer(s, "ann@example.com")
        url = "/api/tickets/SUP-00001/followers"
        empty = check_answer(document, PATH, "get", s.client.get(url, headers=ann))
        assert empty == {"ticket": "SUP-00001", "followers": []}
        followed = check_answer(document, PATH, "post", s.client.post(url, headers=ann))
        [entry] = followed["followers"]
        assert entry["email"] == "ann@example.com" and entry["how"] == "follow"
        again = s.client.post(url, headers=ann)  # following twice changes nothing
        assert len(again.json()["followers"]) == 1
        # A note through the API that mentions Root (an admin: an agent of every desk).
        note = {"text": "@root have a look", "note": True}
        added = s.client.post("/api/tickets/SUP-00001/messages", json=note, headers=ann)
        assert added.status_code == 201, added.text
        shown = s.client.get(url, headers=ann).json()
        assert [(f["email"], f["how"]) for f in shown["followers"]] == [
            ("ann@example.com", "follow"),
            ("root@example.com", "mention"),
        ]
        assert queued("mentioned") == [["root@example.com"]]
        left = check_answer(document, PATH, "delete", s.client.delete(url, headers=ann))
        assert [f["email"] for f in left["followers"]] == ["root@example.com"]
        # Bill works billing only: a support ticket is not there for him, nor a
        # mention of him on it.
        bill = bearer(s, "bill@example.com")
        assert s.client.get(url, headers=bill).status_code == 404
        assert s.client.post(url, headers=bill).status_code == 404
        bad = {"text": "@bill look", "note": True}
        refused = s.client.post("/api/tickets/SUP-00001/messages", json=bad, headers=ann)
        assert refused.status_code == 422
        assert "@bill: not an agent of this desk" in refused.json()["errors"]


def test_a_public_reply_with_a_mention_through_the_api_is_422(
    tmp_path: Path, database_url: str
) -> None:
    with two_desks(tmp_path, database_url) as s:
        ann = bearer(s, "ann@example.com")
        reply = {"text": "Dear Carl, @root will call.", "note": False}
        refused = s.client.post("/api/tickets/SUP-00001/messages", json=reply, headers=ann)
        assert refused.status_code == 422
        assert "would reach them" in refused.json()["error"]
        assert queued("agent_reply") == []
        assert s.client.get("/api/tickets/SUP-00001/followers").status_code == 401
