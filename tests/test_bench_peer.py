"""bench/peer's pure helpers: the corpus it builds and its options (the bench itself
installs django-helpdesk and takes minutes, so it is not run here)."""

from __future__ import annotations

import email
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def peer() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))  # the bench imports its neighbour `common`
    spec = importlib.util.spec_from_file_location("bench_peer", BENCH / "peer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peer"] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))
        for name in ("bench_peer", "common"):
            sys.modules.pop(name, None)


def test_replace_headers_drops_folded_fields_and_keeps_the_rest(peer: ModuleType) -> None:
    raw = (
        b"From: someone\r\n <someone@example.org>\r\n"
        b"Subject: hello\r\n"
        b"Message-ID:\r\n <old@example.org>\r\n"
        b"X-Kept: yes\r\n"
        b"\r\n"
        b"Message-ID: in the body stays\r\n"
    )
    new = peer.replace_headers(raw, [("Message-ID", "<new@x>"), ("From", "a@x")])
    assert new == (
        b"Message-ID: <new@x>\r\nFrom: a@x\r\n"
        b"Subject: hello\r\nX-Kept: yes\r\n\r\nMessage-ID: in the body stays\r\n"
    )


def test_corpus_replies_follow_the_message_they_answer(peer: ModuleType, tmp_path: Path) -> None:
    samples = []
    for name in ("a.eml", "b.eml"):
        path = tmp_path / name
        path.write_bytes(b"From: x@y\nMessage-ID: <same@y>\nSubject: s\n\nbody\n")
        samples.append(path)
    corpus = peer.build_corpus(samples, copies=2, replies=1)
    names = list(corpus.files)
    assert names == sorted(names) and len(names) == 8 and corpus.openings == 4
    ids = {}
    for name, raw in corpus.files.items():
        msg = email.message_from_bytes(raw)
        assert msg.get_all("Message-ID") and len(msg.get_all("Message-ID")) == 1
        ids[name] = (msg["Message-ID"], msg["From"], msg["In-Reply-To"])
    assert len({mid for mid, _, _ in ids.values()}) == 8  # each copy its own conversation
    for reply, parent in corpus.reply_files.items():
        assert parent < reply
        assert ids[reply][2] == ids[parent][0] and ids[reply][1] == ids[parent][1]
    assert sorted(corpus.pairs) == sorted(
        (ids[reply][0], ids[parent][0]) for reply, parent in corpus.reply_files.items()
    )


def test_options_are_checked(peer: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    args = peer.parse_args(["--copies", "2", "--replies", "0", "--postgres", ""])
    assert (args.copies, args.replies, args.rounds, args.postgres) == (2, 0, 2, "")
    with pytest.raises(SystemExit) as exc:
        peer.parse_args(["--copies", "0"])
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
