// Read one iCalendar object on stdin and print, as JSON, what Mozilla's ical.js
// (the parser inside Thunderbird) makes of it: the calendar's METHOD and name,
// and for every VEVENT its uid, summary, start/end in UTC, sequence, status,
// organizer, attendees and alarms.
//
// Times with a TZID are resolved through an ICAL.Timezone built from the
// calendar's own VTIMEZONE block, exactly as Thunderbird does for an invitation
// from a zone it does not know; an unknown TZID is an error, never a silent
// floating time.  Exit status 1 with a message on stderr when parsing fails.

import ICAL from "ical.js";

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (c) => chunks.push(c));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function zonesOf(vcalendar) {
  const zones = new Map();
  for (const comp of vcalendar.getAllSubcomponents("vtimezone")) {
    const tzid = comp.getFirstPropertyValue("tzid");
    zones.set(tzid, new ICAL.Timezone({ component: comp, tzid }));
  }
  return zones;
}

// Returns {date} for VALUE=DATE, {utc, tzid, local} for date-times.
function timeOf(vevent, name, zones) {
  const prop = vevent.getFirstProperty(name);
  if (!prop) return null;
  const value = prop.getFirstValue();
  if (value.isDate) {
    return { date: value.toString(), is_date: true };
  }
  const tzid = prop.getParameter("tzid");
  let utc;
  if (tzid) {
    const zone = zones.get(tzid);
    if (!zone) throw new Error(`${name}: TZID ${tzid} has no VTIMEZONE`);
    const local = ICAL.Time.fromData(
      {
        year: value.year,
        month: value.month,
        day: value.day,
        hour: value.hour,
        minute: value.minute,
        second: value.second,
        isDate: false,
      },
      zone,
    );
    utc = local.convertToZone(ICAL.Timezone.utcTimezone);
  } else if (value.zone === ICAL.Timezone.utcTimezone) {
    utc = value;
  } else {
    return { floating: value.toString(), is_date: false };
  }
  return {
    utc: utc.toString(),
    unix: utc.toUnixTime(),
    tzid: tzid ?? null,
    local: value.toString(),
    is_date: false,
  };
}

function addressOf(prop) {
  return {
    value: prop.getFirstValue(),
    cn: prop.getParameter("cn") ?? null,
    role: prop.getParameter("role") ?? null,
    partstat: prop.getParameter("partstat") ?? null,
    rsvp: prop.getParameter("rsvp") ?? null,
  };
}

function eventOf(vevent, zones) {
  const organizer = vevent.getFirstProperty("organizer");
  const dtstamp = vevent.getFirstProperty("dtstamp");
  return {
    uid: vevent.getFirstPropertyValue("uid"),
    summary: vevent.getFirstPropertyValue("summary"),
    location: vevent.getFirstPropertyValue("location"),
    description: vevent.getFirstPropertyValue("description"),
    url: vevent.getFirstPropertyValue("url"),
    start: timeOf(vevent, "dtstart", zones),
    end: timeOf(vevent, "dtend", zones),
    dtstamp_utc: dtstamp ? dtstamp.getFirstValue().zone === ICAL.Timezone.utcTimezone : null,
    sequence: vevent.getFirstPropertyValue("sequence"),
    status: vevent.getFirstPropertyValue("status"),
    organizer: organizer ? addressOf(organizer) : null,
    attendees: vevent.getAllProperties("attendee").map(addressOf),
    alarms: vevent.getAllSubcomponents("valarm").map((a) => ({
      action: a.getFirstPropertyValue("action"),
      trigger: String(a.getFirstPropertyValue("trigger")),
      description: a.getFirstPropertyValue("description"),
    })),
  };
}

try {
  const text = await readStdin();
  const vcalendar = new ICAL.Component(ICAL.parse(text));
  const zones = zonesOf(vcalendar);
  const out = {
    method: vcalendar.getFirstPropertyValue("method"),
    version: vcalendar.getFirstPropertyValue("version"),
    prodid: vcalendar.getFirstPropertyValue("prodid"),
    calname: vcalendar.getFirstPropertyValue("x-wr-calname"),
    timezones: [...zones.keys()],
    events: vcalendar.getAllSubcomponents("vevent").map((v) => eventOf(v, zones)),
  };
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (err) {
  process.stderr.write(`ical_times: ${err.stack ?? err}\n`);
  process.exit(1);
}
