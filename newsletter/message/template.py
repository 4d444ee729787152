"""MIME assembly once per (send, segment), then per-recipient splicing.

:meth:`MessageTemplate.build` lays out the whole message as pre-encoded byte
segments with a few slots; :meth:`MessageTemplate.personalise` fills the slots
for one recipient (headers, the spliced text and HTML bodies, and the
calendar parts when a METHOD:REQUEST needs the recipient as ATTENDEE) and
joins the bytes.  Building a fresh ``EmailMessage`` per recipient costs
milliseconds; this costs tens of microseconds (see benchmarks/).

Structure (RFC 2046 multipart; RFC 6047 for iMIP)::

    no events:   multipart/alternative[text/plain, text/html]
    one event:   multipart/mixed[
                     multipart/alternative[text/plain, text/html,
                                           text/calendar; method=M; charset=utf-8],
                     application/ics attachment]
    more events: multipart/mixed[multipart/alternative[text/plain, text/html],
                                 application/ics attachment per event]

With several events there is no text/calendar alternative: an alternative
part stands for the whole message, and clients show at most one invitation
card per message, so singling one event out would be arbitrary.
"""

from __future__ import annotations

import importlib
import re
import secrets
from collections.abc import Callable, Sequence
from email.utils import parseaddr
from typing import Final, cast

from newsletter.config import Settings, get_settings
from newsletter.message.bodies import SplicedBody, encode_base64, encode_qp
from newsletter.message.headers import MessageError, addr_spec, check_value, mime_param
from newsletter.message.pipeline import (
    RECIPIENT_STEPS,
    TEMPLATE_STEPS,
    Draft,
    HeaderOptions,
    RecipientStep,
    TemplateStep,
    build_constant_headers,
)
from newsletter.message.recipient import Recipient, greeting
from newsletter.parts import CalendarPart, RenderedEdition
from newsletter.transports.base import OutgoingMessage

__all__ = ["AttendeeFunction", "MessageTemplate"]

AttendeeFunction = Callable[[CalendarPart, str, str | None], CalendarPart]

_METHOD_RE: Final = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)
_QP_UTF8: Final = b'; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'


def _calendar_method(part: CalendarPart) -> str:
    """Return the part's method after checking it matches the METHOD line (RFC 6047 2.4)."""
    found = _METHOD_RE.findall(part.ics)
    method = part.method.upper()
    if len(found) != 1 or found[0].decode("ascii").upper() != method:
        raise MessageError(f"CalendarPart method {part.method!r} does not match its METHOD line")
    check_value("method", method)
    return method


def _load_with_attendee() -> AttendeeFunction:
    # Imported only when a REQUEST needs it: the calendar module is optional for
    # messages without invitations, and importing it by name keeps this package
    # free of an import cycle.
    module = importlib.import_module("newsletter.calendar")
    return cast(AttendeeFunction, module.with_attendee)


class _Fill:
    """One recipient's values while the template's slots are filled."""

    __slots__ = ("calendars", "draft", "values")

    def __init__(self, draft: Draft, values: tuple[str, str, str]) -> None:
        self.draft = draft
        self.values = values
        self.calendars: dict[int, bytes] = {}


Slot = Callable[[_Fill], bytes]


class MessageTemplate:
    """A message prepared once, personalised per recipient by splicing.

    Build with :meth:`build`.  Instances are immutable after building and safe
    to share between threads.
    """

    def __init__(
        self,
        plan: Sequence[bytes | Slot],
        options: HeaderOptions,
        recipient_steps: Sequence[RecipientStep],
    ) -> None:
        self._plan = tuple(plan)
        self._options = options
        self._steps = tuple(recipient_steps)

    @classmethod
    def build(
        cls,
        edition: RenderedEdition,
        calendar_parts: Sequence[CalendarPart] = (),
        *,
        settings: Settings | None = None,
        subject: str | None = None,
        list_id: str | None = None,
        list_name: str | None = None,
        feedback_id: str | None = None,
        is_suppressed: Callable[[str], bool] | None = None,
        envelope_from: Callable[[Recipient], str] | None = None,
        message_id_key: bytes | None = None,
        with_attendee: AttendeeFunction | None = None,
        attendee_methods: frozenset[str] = frozenset({"REQUEST", "CANCEL"}),
        template_steps: Sequence[TemplateStep] = TEMPLATE_STEPS,
        recipient_steps: Sequence[RecipientStep] = RECIPIENT_STEPS,
    ) -> MessageTemplate:
        """Encode everything constant once and return the template.

        ``subject`` defaults to the edition's; ``list_id`` to ``settings.list_id``;
        ``list_name`` to the From display name; ``feedback_id`` to
        ``{update}:{segment}:newsletter:{sending domain}`` (pass "" for none).
        ``message_id_key`` makes each delivery's Message-ID stable (see
        ``pipeline.stable_message_id``).
        ``with_attendee`` defaults to ``newsletter.calendar.with_attendee`` and is
        called per recipient only for parts whose method is in ``attendee_methods``
        (REQUEST: RFC 5546 section 3.2.2 lists the invitee; CANCEL: section 3.2.5
        lists everyone a cancellation of the whole event goes to).

        Raises HeaderInjectionError when a header value holds CR or LF, and
        MessageError when a CalendarPart's method disagrees with its METHOD line.
        """
        s = settings or get_settings()
        if feedback_id is None:
            update = edition.update_id if edition.update_id is not None else 0
            feedback_id = f"{update}:{edition.segment}:newsletter:{s.sending_domain}"
        options = HeaderOptions(
            from_address=s.from_address,
            reply_to=s.reply_to,
            subject=" ".join((subject or edition.subject).split()) or "(no subject)",
            list_id=list_id or s.list_id,
            list_name=list_name if list_name is not None else parseaddr(s.from_address)[0],
            feedback_id=feedback_id or None,
            sending_domain=s.sending_domain,
            is_suppressed=is_suppressed,
            envelope_from=envelope_from,
            message_id_key=message_id_key,
        )
        check_value("Subject", subject or edition.subject)
        plan: list[bytes | Slot] = [build_constant_headers(options, tuple(template_steps))]
        plan.append(_headers_slot)
        plan.append(b"MIME-Version: 1.0\r\n")

        methods = [_calendar_method(part) for part in calendar_parts]
        attendee = None
        if attendee_methods.intersection(methods):
            attendee = with_attendee or _load_with_attendee()
        calendars = [
            _CalendarSlot(part, attendee if method in attendee_methods else None)
            for part, method in zip(calendar_parts, methods, strict=True)
        ]

        alt = b"alt_" + secrets.token_hex(12).encode("ascii")
        mixed = b"mix_" + secrets.token_hex(12).encode("ascii")
        if calendars:
            plan.append(b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n' % mixed)
            plan.append(b"--%s\r\n" % mixed)
        plan.append(b'Content-Type: multipart/alternative; boundary="%s"\r\n\r\n' % alt)

        text = SplicedBody(edition.text, escape_html=False)
        html = SplicedBody(edition.html, escape_html=True)
        plan.append(b"--%s\r\nContent-Type: text/plain" % alt + _QP_UTF8)
        plan.append(lambda fill: text.render(fill.values))
        plan.append(b"\r\n--%s\r\nContent-Type: text/html" % alt + _QP_UTF8)
        plan.append(lambda fill: html.render(fill.values))
        if len(calendars) == 1:
            method = methods[0].encode("ascii")
            plan.append(b"\r\n--%s\r\nContent-Type: text/calendar; method=%s" % (alt, method))
            plan.append(_QP_UTF8)
            plan.append(calendars[0].inline)
        plan.append(b"\r\n--%s--\r\n" % alt)
        for index, calendar in enumerate(calendars):
            filename = calendar.part.filename or f"event-{index + 1}.ics"
            plan.append(
                b"\r\n--%s\r\nContent-Type: application/ics" % mixed
                + mime_param("name", filename).encode("ascii")
                + b"\r\nContent-Disposition: attachment"
                + mime_param("filename", filename).encode("ascii")
                + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            )
            plan.append(calendar.attachment)
        if calendars:
            plan.append(b"\r\n--%s--\r\n" % mixed)
        return cls(_merge(plan), options, recipient_steps)

    def outgoing(self, recipient: Recipient) -> OutgoingMessage:
        """Return the complete message for ``recipient`` with its envelope.

        Raises HeaderInjectionError when a recipient value destined for a header
        holds CR or LF, MessageError for an unusable address, and
        RecipientSuppressedError when the suppression hook refuses the address.
        """
        draft = Draft(recipient)
        for step in self._steps:
            step(self._options, draft)
        fill = _Fill(
            draft, (greeting(recipient.name), recipient.unsubscribe_url, recipient.preferences_url)
        )
        data = b"".join(item if isinstance(item, bytes) else item(fill) for item in self._plan)
        return OutgoingMessage(
            envelope_from=draft.envelope_from,
            recipients=(addr_spec(recipient.email),),
            data=data,
            message_id=draft.message_id,
            delivery_id=recipient.delivery_id,
            # Header lines begin with a name or (folded) with white space,
            # boundaries with "--", base64 has no dot and every quoted-printable
            # part comes from encode_qp, which encodes a line's leading dot.
            dot_free=True,
        )

    def personalise(self, recipient: Recipient) -> bytes:
        """Return the final message bytes (CRLF line endings) for ``recipient``.

        Same errors as :meth:`outgoing`.
        """
        return self.outgoing(recipient).data


def _headers_slot(fill: _Fill) -> bytes:
    return b"".join(fill.draft.headers)


class _CalendarSlot:
    """A calendar part encoded once, or per recipient when it needs an ATTENDEE."""

    def __init__(self, part: CalendarPart, attendee: AttendeeFunction | None) -> None:
        self.part = part
        self._attendee = attendee
        self._key = id(self)
        if attendee is None:
            self._inline = encode_qp(part.ics.replace(b"\r\n", b"\n"))
            self._attachment = encode_base64(part.ics)

    def _ics(self, fill: _Fill) -> bytes:
        ics = fill.calendars.get(self._key)
        if ics is None:
            assert self._attendee is not None
            recipient = fill.draft.recipient
            ics = self._attendee(self.part, recipient.email, recipient.name).ics
            fill.calendars[self._key] = ics
        return ics

    @property
    def inline(self) -> bytes | Slot:
        if self._attendee is None:
            return self._inline
        return lambda fill: encode_qp(self._ics(fill).replace(b"\r\n", b"\n"))

    @property
    def attachment(self) -> bytes | Slot:
        if self._attendee is None:
            return self._attachment
        return lambda fill: encode_base64(self._ics(fill))


def _merge(plan: Sequence[bytes | Slot]) -> list[bytes | Slot]:
    """Join adjacent constant segments so personalising joins as few pieces as possible."""
    merged: list[bytes | Slot] = []
    for item in plan:
        if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + item
        else:
            merged.append(item)
    return merged
