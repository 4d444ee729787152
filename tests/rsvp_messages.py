"""Calendar replies as Outlook, Gmail and Apple Calendar send them, and other intake mail.

Each builder returns the raw RFC 5322 bytes (CRLF line ends) of one attendee's
iTIP REPLY, shaped like what the client really sends:

* Outlook / Exchange: ``multipart/alternative`` with a text part and a base64
  ``text/calendar; method=REPLY`` part; PRODID "Microsoft Exchange Server
  2010"; the attendee address upper-case ``MAILTO:`` with the mailbox's own
  capitalisation; times in the Windows zone "GMT Standard Time"; a COMMENT when
  the person typed one.
* Gmail / Google Calendar: ``multipart/mixed`` holding ``multipart/alternative``
  (plain, HTML, 7bit ``text/calendar; method=REPLY``) and the same calendar again
  as an ``application/ics`` attachment "invite.ics"; X-NUM-GUESTS on ATTENDEE.
* Apple Calendar (macOS): ``multipart/mixed`` with a plain text part and a
  quoted-printable ``text/calendar; method=REPLY`` attachment "iCal-….ics"; the
  ATTENDEE carries an EMAIL parameter; REQUEST-STATUS:2.0;Success.
* A bare ``.ics`` attachment (``application/octet-stream``, no method
  parameter), as some mobile clients and forwarding rules produce.

Also: an out-of-office auto-reply (RFC 3834) and a mailto unsubscribe request.
"""

from __future__ import annotations

import base64
import quopri
from datetime import datetime

ORGANIZER = "updates@newsletter.example.org"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def outlook_reply(
    uid: str,
    email: str,
    name: str,
    partstat: str,
    stamp: datetime,
    *,
    sequence: int = 0,
    comment: str = "",
) -> bytes:
    word = {"ACCEPTED": "Accepted", "TENTATIVE": "Tentative", "DECLINED": "Declined"}[partstat]
    comment_line = f"COMMENT;LANGUAGE=en-GB:{comment}\\n\n" if comment else ""
    ics = f"""BEGIN:VCALENDAR
METHOD:REPLY
PRODID:Microsoft Exchange Server 2010
VERSION:2.0
BEGIN:VTIMEZONE
TZID:GMT Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T010000
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
ATTENDEE;PARTSTAT={partstat};CN={name}:MAILTO:{email}
{comment_line}SUMMARY;LANGUAGE=en-GB:{word}: Regional DCS meeting
DTSTART;TZID=GMT Standard Time:20300110T100000
DTEND;TZID=GMT Standard Time:20300110T123000
UID:{uid}
CLASS:PUBLIC
PRIORITY:5
DTSTAMP:{_stamp(stamp)}
TRANSP:OPAQUE
STATUS:CONFIRMED
SEQUENCE:{sequence}
LOCATION;LANGUAGE=en-GB:Durham County Hall
X-MICROSOFT-CDO-APPT-SEQUENCE:{sequence}
X-MICROSOFT-CDO-OWNERAPPTID:-1
X-MICROSOFT-CDO-REPLYTIME:{_stamp(stamp)}
END:VEVENT
END:VCALENDAR
"""
    encoded = base64.encodebytes(_crlf(ics)).decode("ascii")
    return _crlf(f"""From: {name} <{email}>
To: North East Children's Services Network <{ORGANIZER}>
Subject: {word}: Regional DCS meeting
Thread-Topic: Regional DCS meeting
Thread-Index: AQHaXyZ1c2VyLXJlcGx5
Date: {stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")}
Message-ID: <DB9PR02MB7{abs(hash((uid, email))) % 10**8}@DB9PR02MB7.eurprd02.prod.outlook.com>
Accept-Language: en-GB, en-US
Content-Language: en-GB
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
MIME-Version: 1.0
Content-Type: multipart/alternative;
\tboundary="_000_DB9PR02MB7reply_"

--_000_DB9PR02MB7reply_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

{comment}

--_000_DB9PR02MB7reply_
Content-Type: text/calendar; charset="utf-8"; method=REPLY
Content-Transfer-Encoding: base64

{encoded}
--_000_DB9PR02MB7reply_--
""")


def gmail_reply(uid: str, email: str, name: str, partstat: str, stamp: datetime) -> bytes:
    verb = {"ACCEPTED": "accepted", "TENTATIVE": "tentatively accepted", "DECLINED": "declined"}
    word = {"ACCEPTED": "Accepted", "TENTATIVE": "Tentatively Accepted", "DECLINED": "Declined"}
    ics = f"""BEGIN:VCALENDAR
PRODID:-//Google Inc//Google Calendar 70.9054//EN
VERSION:2.0
CALSCALE:GREGORIAN
METHOD:REPLY
BEGIN:VEVENT
DTSTART:20300110T100000Z
DTEND:20300110T123000Z
DTSTAMP:{_stamp(stamp)}
ORGANIZER;CN=North East Children's Services Network:mailto:{ORGANIZER}
UID:{uid}
ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};CN={name};X-NUM-GUESTS=0:mailto:{email}
CREATED:20291201T090000Z
DESCRIPTION:
LAST-MODIFIED:{_stamp(stamp)}
LOCATION:Durham County Hall
SEQUENCE:0
STATUS:CONFIRMED
SUMMARY:Regional DCS meeting
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR
"""
    attached = base64.encodebytes(_crlf(ics)).decode("ascii")
    subject = f"{word[partstat]}: Regional DCS meeting @ Thu 10 Jan 2030 10am - 12:30pm (GMT)"
    return _crlf(f"""MIME-Version: 1.0
Date: {stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")}
Message-ID: <calendar-{abs(hash((uid, email))) % 10**12}@google.com>
Subject: {subject} ({ORGANIZER})
From: {name} <{email}>
To: {ORGANIZER}
Content-Type: multipart/mixed; boundary="000000000000mixed0123"

--000000000000mixed0123
Content-Type: multipart/alternative; boundary="000000000000alt0123"

--000000000000alt0123
Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes

{name} has {verb[partstat]} this invitation.

Regional DCS meeting
Thursday 10 Jan 2030 10am - 12:30pm (GMT)

Invitation from Google Calendar

--000000000000alt0123
Content-Type: text/html; charset="UTF-8"

<p>{name} has {verb[partstat]} this invitation.</p>

--000000000000alt0123
Content-Type: text/calendar; charset="UTF-8"; method=REPLY
Content-Transfer-Encoding: 7bit

{ics}
--000000000000alt0123--

--000000000000mixed0123
Content-Type: application/ics; name="invite.ics"
Content-Disposition: attachment; filename="invite.ics"
Content-Transfer-Encoding: base64

{attached}
--000000000000mixed0123--
""")


def apple_reply(uid: str, email: str, name: str, partstat: str, stamp: datetime) -> bytes:
    word = {"ACCEPTED": "accepted", "TENTATIVE": "tentatively accepted", "DECLINED": "declined"}
    ics = f"""BEGIN:VCALENDAR
CALSCALE:GREGORIAN
METHOD:REPLY
PRODID:-//Apple Inc.//macOS 14.4//EN
VERSION:2.0
BEGIN:VTIMEZONE
TZID:Europe/London
BEGIN:DAYLIGHT
DTSTART:19810329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZNAME:BST
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
END:DAYLIGHT
BEGIN:STANDARD
DTSTART:19961027T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZNAME:GMT
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
ATTENDEE;CN="{name}";CUTYPE=INDIVIDUAL;EMAIL="{email}";PARTSTAT={partstat}:mailto:{email}
DTEND;TZID=Europe/London:20300110T123000
DTSTAMP:{_stamp(stamp)}
DTSTART;TZID=Europe/London:20300110T100000
ORGANIZER;CN="North East Children's Services Network":mailto:{ORGANIZER}
REQUEST-STATUS:2.0;Success
SEQUENCE:0
SUMMARY:Regional DCS meeting
UID:{uid}
END:VEVENT
END:VCALENDAR
"""
    qp = quopri.encodestring(_crlf(ics)).decode("ascii")
    filename = f"iCal-{stamp.strftime('%Y%m%d-%H%M%S')}.ics"
    return _crlf(f"""From: {name} <{email}>
Content-Type: multipart/mixed;
\tboundary="Apple-Mail=_7B1C2D3E-REPLY"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.500.171.1.1\\))
Subject: Invitation: Regional DCS meeting has been {word[partstat]}
Date: {stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")}
Message-Id: <{abs(hash((uid, email))) % 10**10}@icloud.com>
To: {ORGANIZER}
X-Mailer: Apple Mail (2.3774.500.171.1.1)

--Apple-Mail=_7B1C2D3E-REPLY
Content-Transfer-Encoding: 7bit
Content-Type: text/plain;
\tcharset=us-ascii

{name} has {word[partstat]} your event "Regional DCS meeting".

--Apple-Mail=_7B1C2D3E-REPLY
Content-Disposition: attachment;
\tfilename={filename}
Content-Type: text/calendar;
\tmethod=REPLY;
\tname="{filename}"
Content-Transfer-Encoding: quoted-printable

{qp}
--Apple-Mail=_7B1C2D3E-REPLY--
""")


def bare_ics_reply(uid: str, email: str, partstat: str, stamp: datetime) -> bytes:
    """A reply whose calendar is only an attachment named reply.ics (no method parameter)."""
    ics = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
METHOD:REPLY
BEGIN:VEVENT
UID:{uid}
DTSTAMP:{_stamp(stamp)}
ORGANIZER:mailto:{ORGANIZER}
ATTENDEE;PARTSTAT={partstat}:mailto:{email}
SEQUENCE:0
END:VEVENT
END:VCALENDAR
"""
    attached = base64.encodebytes(_crlf(ics)).decode("ascii")
    return _crlf(f"""From: <{email}>
To: {ORGANIZER}
Subject: Re: Invitation: Regional DCS meeting
Date: {stamp.strftime("%a, %d %b %Y %H:%M:%S +0000")}
Message-ID: <bare-{abs(hash((uid, email))) % 10**10}@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="bare-boundary"

--bare-boundary
Content-Type: text/plain; charset=utf-8

My answer is attached.

--bare-boundary
Content-Type: application/octet-stream; name="reply.ics"
Content-Disposition: attachment; filename="reply.ics"
Content-Transfer-Encoding: base64

{attached}
--bare-boundary--
""")


def out_of_office(email: str, subject: str) -> bytes:
    """An Exchange out-of-office answer (RFC 3834 Auto-Submitted: auto-replied)."""
    return _crlf(f"""From: {email}
To: bounces@newsletter.example.org
Subject: Automatic reply: {subject}
Date: Thu, 02 Jan 2030 10:00:00 +0000
Message-ID: <oof-{abs(hash(email)) % 10**10}@example.net>
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I am out of the office until Monday.
""")


def unsubscribe_request(email: str, to: str, subject: str, body: str = "") -> bytes:
    """What a mail client sends for a mailto: List-Unsubscribe."""
    return _crlf(f"""From: {email}
To: {to}
Subject: {subject}
Date: Thu, 02 Jan 2030 10:00:00 +0000
Message-ID: <unsub-{abs(hash((email, subject, body))) % 10**10}@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

{body}
""")
