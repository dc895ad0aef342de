"""Raw RFC 5322 bytes -> one tidy, fully decoded `ParsedMessage`.

Where it sits in the flow: intake commits the raw bytes first (using
`header_message_id` for dedupe), then the pipeline calls `parse_message` once
and everything downstream (threading, classification in
`maildesk.core.autoreply`, ticket rendering, attachment storage) works only on
the `ParsedMessage` value.  This package is the single wrapper around the
standard library `email` package; nothing else in maildesk touches MIME.

Pure: bytes in, values out, no IO.  `parse_message` never raises: whatever is
broken is repaired as far as possible and described in `ParsedMessage.defects`.

Design notes:

* The MIME tree is built by the stdlib feed parser with a `compat32`-based
  policy.  `email.policy.default` builds header objects lazily and re-parses
  Content-Type many times while parsing (2 s against 0.2 s on the 3 MB
  "endless enclosures" sample); we decode every header ourselves anyway, so
  the raw-string policy is both faster and gives us the untouched header
  text (8-bit bytes included) to decode with our own charset rules.
* Charsets follow what mail clients and browsers do: latin-1/us-ascii labels
  mean windows-1252, undeclared 8-bit data is tried as UTF-8 first, unknown
  labels fall back, and no lone surrogate ever leaves this package (see
  `_decode_bytes`).
* Hostile input is defused before the stdlib parser sees it, since parts of
  it are slow (quadratic parameter parsing, per-header and per-part costs):
  header lines beyond MAX_HEADER_LINES are dropped, over-long Content-Type /
  Content-Disposition fields are cut, and with more than MAX_BOUNDARY_LINES
  boundary-like lines the body is kept as text.  Parser recursion errors
  (thousands of nested enclosures) degrade to the same text fallback; our
  own walk stops at MAX_DEPTH.  All of it is noted in `defects`.
* Memory: a 25 MB message must parse in a few times its size.  The parser is
  fed the raw bytes a chunk at a time (`_parse_bytes`), never as one decoded
  string: `BytesParser.parsebytes` decodes the whole message to a str and
  reads it back through a `StringIO`, which costs several copies at once
  (7.7x the message size at peak, against 2.7x chunked).  Transfer encodings
  are undone by `_decode_payload` straight from the parser's string with
  `binascii` (compat32's `get_payload(decode=True)` copies a base64 payload
  three times first), and each part's encoded payload is dropped from the
  tree as soon as it is decoded, so the tree and the decoded data do not
  pile up.  Enclosed messages are re-serialised without first splitting
  their payloads into lists of lines (`_Generator`).

Modules, roughly in flow order (each imports only those above it):

* `limits`: the MAX_* guards against pathological input.
* `values`: the frozen results (`ParsedMessage`, `Address`, `Attachment`).
* `text`: line breaks and surrogate scrubbing, shared by all.
* `notes`: the capped, de-duplicated defect notes.
* `charsets`: codec choice, C1 repair, bytes -> text (`_decode_bytes`).
* `headers`: unfolding, RFC 2047 words, message-ids, addresses, dates.
* `feed`: the parser policy, pre-parse limits, chunked feeding (`_parse_bytes`).
* `parts`: a part's raw fields, parameters, content type, file name.
* `filenames`: `sanitize_filename` and extensions.
* `html_text`: HTML body -> text.
* `payload`: transfer-encoding decoding (`_decode_payload`).
* `mime`: the walk over the tree, bodies and attachments (`_Generator`).
* `parse`: `parse_message` and `header_message_id`.
"""

from __future__ import annotations

from maildesk.core.message.filenames import sanitize_filename
from maildesk.core.message.headers import (
    normalize_message_id,
    parse_address,
    parse_typed_address,
)
from maildesk.core.message.limits import MAX_BODY_CHARS as MAX_BODY_CHARS
from maildesk.core.message.limits import MAX_BOUNDARY_LINES as MAX_BOUNDARY_LINES
from maildesk.core.message.limits import MAX_DEFECTS as MAX_DEFECTS
from maildesk.core.message.limits import MAX_DEPTH as MAX_DEPTH
from maildesk.core.message.limits import MAX_FILENAME_BYTES as MAX_FILENAME_BYTES
from maildesk.core.message.limits import MAX_HEADER_LINES as MAX_HEADER_LINES
from maildesk.core.message.limits import MAX_HTML_FOR_INSCRIPTIS as MAX_HTML_FOR_INSCRIPTIS
from maildesk.core.message.limits import MAX_STRUCTURED_HEADER as MAX_STRUCTURED_HEADER
from maildesk.core.message.parse import header_message_id, parse_message
from maildesk.core.message.values import Address, Attachment, ParsedMessage

__all__ = [
    "Address",
    "Attachment",
    "ParsedMessage",
    "header_message_id",
    "normalize_message_id",
    "parse_address",
    "parse_typed_address",
    "parse_message",
    "sanitize_filename",
]
