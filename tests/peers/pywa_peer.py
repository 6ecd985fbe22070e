"""pywa (PyPI) as an independent WhatsApp Cloud API client, run offline.

Reads one JSON request on stdin and prints one JSON answer:
- what pywa itself posts to /messages for a text, a cta_url button, a template and a read
  receipt (captured by an injected httpx transport; nothing leaves the process);
- whether pywa's webhook signature check accepts a body signed by ZiFlow, and what pywa's
  own parser reads out of it.
"""

import json
import sys

import httpx
from pywa import WhatsApp, types, utils

req = json.load(sys.stdin)
posted = []


def transport(request: httpx.Request) -> httpx.Response:
    posted.append(json.loads(request.content))
    if request.url.path.endswith("/messages") and b'"status"' in request.content:
        return httpx.Response(200, json={"success": True})
    return httpx.Response(200, json={
        "messaging_product": "whatsapp",
        "contacts": [{"input": req["to"], "wa_id": req["to"]}],
        "messages": [{"id": "wamid.PYWA%d" % len(posted)}],
    })


session = httpx.Client(transport=httpx.MockTransport(transport),
                       base_url="https://graph.facebook.com")
wa = WhatsApp(phone_id=req["phone_id"], token="t" * 40, session=session)

out = {}
wa.send_message(to=req["to"], text=req["text"], preview_url=req.get("preview_url", False))
out["text"] = posted[-1]
cta = req["cta"]
wa.send_message(to=req["to"], text=cta["body"],
                buttons=types.ButtonUrl(title=cta["label"], url=cta["url"]))
out["cta"] = posted[-1]
tpl = req["template"]
wa.send_template(to=req["to"], template=types.Template(
    name=tpl["name"], language=types.Template.Language(tpl["lang"]),
    body=[types.Template.TextValue(value=p) for p in tpl["params"]]))
out["template"] = posted[-1]
wa.mark_message_as_read(message_id=req["wamid"])
out["read"] = posted[-1]

hook = req["webhook"]
raw = hook["body"].encode("utf-8")
out["signature_ok"] = utils.webhook_updates_validator(hook["secret"], raw, hook["signature"])
out["signature_ok_when_tampered"] = utils.webhook_updates_validator(
    hook["secret"], raw.replace(b"crema", b"CREMA"), hook["signature"])
msg = types.Message.from_update(client=wa, update=json.loads(raw))
out["parsed"] = {
    "id": msg.id,
    "from": msg.from_user.wa_id,
    "name": msg.from_user.name,
    "text": msg.text,
    "timestamp": int(msg.timestamp.timestamp()),
    "type": str(msg.type.value if hasattr(msg.type, "value") else msg.type),
}
print(json.dumps(out, ensure_ascii=False))
