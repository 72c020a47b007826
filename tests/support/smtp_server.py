#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the email notifier tests.

Each accepted message is written to OUT_DIR as <n>.json: envelope sender, recipients, the
raw data and when it was accepted (received_at, Unix seconds). Optional: AUTH (PLAIN/LOGIN)
with one fixed user and password, STARTTLS with a certificate and key, and a recipient the
server rejects with 550.

usage: smtp_server.py --port P --out DIR [--user U --password W] [--cert C --key K]
                      [--reject RCPT]
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, out, reject):
        self.out = out
        self.reject = reject
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        # Decoded by Python's own mail parser, so the test checks what a mail client shows.
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        record = {
            # Wall-clock seconds when the message was accepted: the replay suite's timings.
            "received_at": time.time(),
            "subject": str(message["subject"]),
            "message_id": str(message["message-id"]),
            "to": str(message["to"]),
            "from": str(message["from"]),
            "content_type": message.get_content_type(),
            "text": plain.get_content() if plain else None,
            "html": html.get_content() if html else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        path = os.path.join(self.out, f"{self.count}.json")
        # Written whole then renamed, so the test never reads half a message.
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted"


def main():
    # AUTH without TLS is deliberate here (a test socket); keep the test output quiet.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--reject")
    args = parser.parse_args()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == args.user
            and auth_data.password.decode() == args.password
        )
        # handled=False: aiosmtpd then answers 535 itself (handled=True would send nothing).
        return AuthResult(success=ok, handled=False)

    tls_context = None
    if args.cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.cert, args.key)

    kwargs = dict(
        hostname="127.0.0.1",
        port=args.port,
        server_hostname="lookout-test-smtp",
        tls_context=tls_context,
        require_starttls=tls_context is not None,
        # Plain-text AUTH is fine on a test socket; real relays should use TLS.
        auth_require_tls=False,
    )
    if args.user:
        kwargs.update(authenticator=authenticator, auth_required=True)
    controller = Controller(Recorder(args.out, args.reject), **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
