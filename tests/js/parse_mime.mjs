// Parse one MIME message from stdin with mailparser (an independent parser)
// and print its structure as JSON: headers, text, html, and attachments.
import { simpleParser } from "mailparser";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const parsed = await simpleParser(Buffer.concat(chunks), { skipHtmlToText: true });
// mailparser folds List-* headers into a structured "list" object, so the raw
// header lines are the faithful source for them.
const header = (name) => {
  const line = parsed.headerLines.find((h) => h.key === name);
  if (line === undefined) return null;
  return line.line.slice(line.line.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim();
};
process.stdout.write(JSON.stringify({
  subject: parsed.subject ?? null,
  messageId: parsed.messageId ?? null,
  date: parsed.date ? parsed.date.toISOString() : null,
  to: parsed.to ? parsed.to.value.map((a) => ({ address: a.address, name: a.name })) : [],
  listUnsubscribe: header("list-unsubscribe"),
  listUnsubscribePost: header("list-unsubscribe-post"),
  contentType: header("content-type"),
  text: parsed.text ?? null,
  html: typeof parsed.html === "string" ? parsed.html : null,
  attachments: parsed.attachments.map((a) => ({
    contentType: a.contentType,
    filename: a.filename ?? null,
    method: a.contentType === "text/calendar" ? (a.headers.get("content-type")?.params?.method ?? null) : null,
    content: a.content.toString("utf8"),
  })),
}));
