// whatsapp-api-js (npm) as an independent WhatsApp Cloud API client, run offline.
//
// Reads one JSON request on stdin and prints one JSON answer: what the library posts to
// /messages for a text, a cta_url button, a template and a read receipt (an injected fetch
// captures it; nothing leaves the process), whether its webhook handler accepts a body signed
// by ZiFlow, and what that handler reads out of it.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { WhatsAppAPI } from "whatsapp-api-js";
import { Text, Interactive, ActionCTA, Body, Template, Language, BodyComponent, BodyParameter }
    from "whatsapp-api-js/messages";

// Node 18 (Debian 12) has Web Crypto only as node:crypto's webcrypto; the library looks for
// the global.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

const req = JSON.parse(readFileSync(0, "utf8"));
const posted = [];
const fetch = async (url, init) => {
    posted.push({ url: String(url), body: JSON.parse(init.body) });
    return new Response(JSON.stringify({ messaging_product: "whatsapp",
        contacts: [{ input: req.to, wa_id: req.to }], messages: [{ id: "wamid.JS" + posted.length }] }),
        { status: 200, headers: { "content-type": "application/json" } });
};
const api = new WhatsAppAPI({ token: "t".repeat(40), appSecret: req.webhook.secret, v: "v23.0",
                              ponyfill: { fetch, subtle: webcrypto.subtle } });
const out = {};
await api.sendMessage(req.phone_id, req.to, new Text(req.text, req.preview_url ?? false));
out.text = posted.at(-1).body;
out.url = posted.at(-1).url;
await api.sendMessage(req.phone_id, req.to,
    new Interactive(new ActionCTA(req.cta.label, req.cta.url), new Body(req.cta.body)));
out.cta = posted.at(-1).body;
await api.sendMessage(req.phone_id, req.to, new Template(req.template.name,
    new Language(req.template.lang),
    new BodyComponent(...req.template.params.map((p) => new BodyParameter(p)))));
out.template = posted.at(-1).body;
await api.markAsRead(req.phone_id, req.wamid);
out.read = posted.at(-1).body;

const raw = req.webhook.body;
let parsed = null;
api.on.message = ({ phoneID, from, message, name }) => {
    parsed = { phone_id: phoneID, from, name, id: message.id, text: message.text?.body,
               timestamp: Number(message.timestamp), type: message.type };
};
try {
    await api.post(JSON.parse(raw), raw, req.webhook.signature);
    out.accepted = true;
} catch (status) {
    out.accepted = false;
    out.status = status;
}
try {
    await api.post(JSON.parse(raw), raw.replace("crema", "CREMA"), req.webhook.signature);
    out.tampered_accepted = true;
} catch {
    out.tampered_accepted = false;
}
out.parsed = parsed;
console.log(JSON.stringify(out));
