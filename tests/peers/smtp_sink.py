"""aiosmtpd (PyPI) as a real SMTP server for email notifications: STARTTLS required, AUTH
required (only after TLS), every message written to a JSON-lines file.

Usage: smtp_sink.py PORT CA_PEM_OUT MAILBOX_JSONL USER PASSWORD

A certificate authority made with trustme signs the server's certificate for localhost and
127.0.0.1; its certificate is written to CA_PEM_OUT for the client to trust. Prints "ready"
once listening; stops when stdin closes.
"""

import email
import email.header
import json
import ssl
import sys

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, ca_out, mailbox, user, password = sys.argv[1:6]

ca = trustme.CA()
ca.cert_pem.write_to_path(ca_out)
server_cert = ca.issue_cert("localhost", "127.0.0.1")
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
server_cert.configure_cert(context)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login.decode() == user and auth_data.password.decode() == password
    return AuthResult(success=ok, handled=False)


class Sink:
    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content)
        subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
        with open(mailbox, "a", encoding="utf-8") as f:
            f.write(json.dumps({
                "tls": session.ssl is not None,
                "authenticated": bool(session.authenticated),
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "subject": subject,
                "body": parsed.get_payload(decode=True).decode(parsed.get_content_charset() or "utf-8"),
            }) + "\n")
        return "250 Message accepted for delivery"


controller = Controller(
    Sink(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    auth_require_tls=True,
    auth_required=True,
    authenticator=authenticator,
    server_hostname="localhost",
)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
