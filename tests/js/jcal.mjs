// Read one iCalendar stream on stdin and print what Mozilla's ical.js (the
// parser inside Thunderbird) makes of it, as jCal (RFC 7265) JSON: every
// component with its properties, parameters, value types and values.  A
// stream ical.js cannot parse exits 1 with the reason on stderr.

import ICAL from "ical.js";

const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  try {
    const text = Buffer.concat(chunks).toString("utf8");
    process.stdout.write(JSON.stringify(ICAL.parse(text)));
  } catch (err) {
    process.stderr.write(String(err && err.stack ? err.stack : err));
    process.exit(1);
  }
});
