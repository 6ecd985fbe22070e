//! The sandbox channel's customer chat, `/sandbox/chat/{uid}`: a page where a person types as
//! the customer. Each message becomes the Cloud API webhook WhatsApp would send, signed with
//! the relay's sandbox-only key (never the shop's app secret) and verified like Meta's; the
//! page shows what the shop sends back, with pay links as buttons ("Pay $128") that open the
//! sandbox pay page. No WhatsApp account is involved. The message itself is delivered by
//! [`crate::sandbox::customer_writes`]; this module is the page.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use ziflow_core::storage::{invoices, settings, shops};
use ziflow_protocol::Money;

use super::{AppState, HttpError};

/// The customer's number, digits only (`15125550123`).
#[derive(Debug, Deserialize)]
pub struct Who {
    phone: Option<String>,
}

/// The number the page starts with (the seed's customer).
const DEFAULT_PHONE: &str = "15125550123";

fn digits(phone: Option<&str>) -> Result<String, HttpError> {
    let d: String = phone
        .unwrap_or(DEFAULT_PHONE)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if (7..=15).contains(&d.len()) {
        Ok(d)
    } else {
        Err(HttpError::BadRequest(
            "phone: the customer's number with country code, 7 to 15 digits".into(),
        ))
    }
}

/// Only shops on the sandbox channel have a sandbox chat.
async fn check_shop(state: &AppState, uid: &str) -> Result<shops::Shop, HttpError> {
    let shop = shops::get(&state.db, uid).await?;
    if settings::get(&state.db, uid, "channel").await?.as_deref() == Some("whatsapp") {
        return Err(HttpError::NotFound(
            "the sandbox chat (this shop talks to customers on WhatsApp)".into(),
        ));
    }
    Ok(shop)
}

/// `GET /sandbox/chat/{uid}?phone=`: the chat page.
pub async fn show(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(who): Query<Who>,
) -> Result<Response, HttpError> {
    let shop = check_shop(&state, &uid).await?;
    let phone = digits(who.phone.as_deref())?;
    let name = super::sandbox::escape(&shop.name);
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer phone (sandbox) — {name}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#e5ddd5;color:#1d2b26;display:flex;flex-direction:column;height:100vh}}
header{{background:#0b5c50;color:#fff;padding:.7rem 1rem}} header h1{{font-size:1.05rem;margin:0}} header small{{opacity:.8}}
#thread{{flex:1;overflow:auto;padding:1rem;display:flex;flex-direction:column;gap:.45rem}}
.msg{{max-width:78%;padding:.5rem .7rem;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;box-shadow:0 1px 1px rgba(0,0,0,.08)}}
.in{{align-self:flex-end;background:#dcf8c6}} .out{{align-self:flex-start;background:#fff}}
.pay{{display:block;margin-top:.45rem;text-align:center;background:#0b5c50;color:#fff;border-radius:8px;padding:.5rem;text-decoration:none;font-weight:600}}
form{{display:flex;gap:.5rem;padding:.6rem;background:#f0f0f0}} #text{{flex:1;padding:.6rem;border-radius:20px;border:1px solid #ccc;font:inherit}}
button{{border:0;border-radius:20px;background:#0b5c50;color:#fff;padding:0 1.1rem;font:inherit;cursor:pointer}}
.sandbox{{background:#fff3c4;color:#6b4e00;border-radius:6px;padding:.05rem .4rem;font-size:.75rem}}
#play{{float:right;background:#fff;color:#0b5c50;padding:.35rem .8rem;font-weight:600}}
#overlay{{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:flex-end}} #overlay[hidden]{{display:none}}
.sheet{{background:#fff;width:100%;height:88%;border-radius:14px 14px 0 0;display:flex;flex-direction:column}}
#close{{margin:.5rem;align-self:flex-start;background:#e9eeec;color:#1d2b26;padding:.4rem .9rem}} iframe{{flex:1;border:0}}
</style></head><body>
<header><button id="play" type="button" title="Plays the seed's story: a price question, an order with an address, Apple Pay">Play the story</button><h1>{name}</h1><small>You are the customer +{phone} · <span class="sandbox">Sandbox — no WhatsApp account needed</span></small></header>
<div id="overlay" hidden><div class="sheet"><button id="close" type="button">Back to the chat</button><iframe id="pay-frame" title="Pay page"></iframe></div></div>
<div id="thread" data-phone="{phone}"></div>
<form id="send"><input id="text" name="text" autocomplete="off" placeholder="Type a message as the customer" required><button id="send-button" type="submit">Send</button></form>
<script>
const phone = "{phone}";
const base = location.pathname.replace(/\/$/, "");
const STORY = ["how much is the hydrating cream?", "yes, 123 Oak St."];
const thread = document.getElementById("thread");
const overlay = document.getElementById("overlay");
const frame = document.getElementById("pay-frame");
let shown = "";
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
function openPay(url) {{ frame.src = url; overlay.hidden = false; }}
document.getElementById("close").onclick = () => {{ overlay.hidden = true; frame.src = "about:blank"; }};
async function list() {{ const r = await fetch(base + "/messages?phone=" + phone); return r.ok ? r.json() : []; }}
async function say(text) {{
  await fetch(base + "?phone=" + phone, {{method: "POST", headers: {{"content-type": "application/x-www-form-urlencoded"}},
    body: "text=" + encodeURIComponent(text)}});
  refresh();
}}
async function waitFor(pred) {{
  for (let i = 0; i < 60; i++) {{ const found = pred(await list()); if (found) return found; await sleep(300); }}
  return null;
}}
document.getElementById("play").onclick = async () => {{
  const start = (await list()).length;
  await say(STORY[0]);
  await waitFor(l => l.length >= start + 2);
  await sleep(1500);
  await say(STORY[1]);
  const link = await waitFor(l => l.slice(start).flatMap(m => m.links).map(k => k.url)[0]);
  if (!link) return;
  await sleep(1000);
  openPay(link);
  await sleep(2500);
  await fetch(link, {{method: "POST", headers: {{"content-type": "application/x-www-form-urlencoded"}}, body: "outcome=apple_pay"}});
  frame.src = link;
  await waitFor(l => l.length >= start + 5);
  await sleep(1500);
  overlay.hidden = true;
  refresh();
}};
async function refresh() {{
  const r = await fetch(base + "/messages?phone=" + phone);
  if (!r.ok) return;
  const list = await r.json();
  const key = JSON.stringify(list);
  if (key === shown) return;
  shown = key;
  thread.replaceChildren(...list.map(m => {{
    const div = document.createElement("div");
    div.className = "msg " + m.direction;
    div.textContent = m.text;
    for (const l of m.links) {{
      const a = document.createElement("a");
      a.className = "pay"; a.href = l.url; a.textContent = l.label;
      a.onclick = (e) => {{ e.preventDefault(); openPay(l.url); }};
      div.appendChild(a);
    }}
    return div;
  }}));
  thread.scrollTop = thread.scrollHeight;
}}
document.getElementById("send").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const input = document.getElementById("text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  await fetch(base + "?phone=" + phone, {{method: "POST", headers: {{"content-type": "application/x-www-form-urlencoded"}},
    body: "text=" + encodeURIComponent(text)}});
  refresh();
}});
refresh();
setInterval(refresh, 1000);
</script></body></html>"#
    );
    Ok(Html(html).into_response())
}

/// `GET /sandbox/chat/{uid}/messages?phone=`: the thread as JSON (oldest first), pay links
/// labelled with their amount.
pub async fn messages(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(who): Query<Who>,
) -> Result<Json<Value>, HttpError> {
    check_shop(&state, &uid).await?;
    let phone = format!("+{}", digits(who.phone.as_deref())?);
    let rows = ziflow_core::storage::conversations::plain_thread(&state.db, &uid, &phone).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (direction, body, at) in rows {
        let mut links = Vec::new();
        for word in body.split_whitespace() {
            let url = word.trim_end_matches(['.', ',', ')']);
            if !url.starts_with("http") {
                continue;
            }
            let label = match url.split("/sandbox/pay/").nth(1) {
                Some(token) => match invoices::by_pay_token(&state.db, token).await? {
                    Some((_, inv)) => {
                        format!(
                            "Pay {}",
                            Money::new(inv.total_minor, inv.currency).display()
                        )
                    }
                    None => "Open link".to_string(),
                },
                None => "Open link".to_string(),
            };
            links.push(json!({ "url": url, "label": label }));
        }
        out.push(json!({ "direction": direction, "text": body, "at": at, "links": links }));
    }
    Ok(Json(Value::Array(out)))
}

/// `POST /sandbox/chat/{uid}?phone=` with `text=…`: the customer writes. The message goes in
/// as the signed Cloud API webhook WhatsApp would send.
pub async fn send(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(who): Query<Who>,
    body: Bytes,
) -> Result<Json<Value>, HttpError> {
    check_shop(&state, &uid).await?;
    let phone = digits(who.phone.as_deref())?;
    let text = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("text=")))
        .map(form_decode)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HttpError::BadRequest("text: the message to send".into()))?;
    if text.chars().count() > 4096 {
        return Err(HttpError::BadRequest(
            "text: WhatsApp messages are at most 4096 characters".into(),
        ));
    }
    crate::sandbox::customer_writes(&state, &uid, &phone, &text)
        .await
        .map(Json)
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
