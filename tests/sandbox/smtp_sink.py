#!/usr/bin/env python3
"""SMTP sink for the tests, on Debian's python3-aiosmtpd.

    python3 smtp_sink.py --port-file F --dir DIR [--starttls CERT KEY] [--require-auth USER:PASS]
                         [--reject RCPT_SUBSTRING:CODE ...]

Binds 127.0.0.1 on a free port and writes the port number to F (atomically) once listening.
  --starttls CERT KEY     offers STARTTLS with that certificate and *requires* it before any
                          mail command (require_starttls=True).
  --require-auth U:P      requires AUTH (LOGIN or PLAIN) with these credentials before MAIL.
                          With --starttls, AUTH is only offered after STARTTLS; without it,
                          AUTH is allowed in plain text (auth_require_tls=False).
  --reject SUBSTR:CODE    answers RCPT TO for an address containing SUBSTR with CODE (such as
                          451 or 550) instead of 250; repeatable, the first match wins.

Every message received is written as DIR/NNNNNN.eml (the raw bytes of DATA) and then
DIR/NNNNNN.json:
  {"seq": N, "mail_from": "...", "rcpt_tos": [...], "mail_options": [...], "rcpt_options": [...],
   "connection_id": "127.0.0.1:54321#3", "connection": 3, "peer": "127.0.0.1:54321",
   "tls": bool, "authenticated": bool, "login": "user" or null, "received_at": unix seconds}
`connection` counts TCP connections (1, 2, ...): messages carried by one connection share it.
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import ssl
import sys
import time

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:  # a Python that is not Debian's: fall back to the distribution's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

CONNECTIONS = itertools.count(1)


class SinkSMTP(SMTP):
    """Numbers each TCP connection; the number survives STARTTLS (which renews the session)."""

    def connection_made(self, transport):
        super().connection_made(transport)
        if not hasattr(self, "sink_connection"):
            self.sink_connection = next(CONNECTIONS)
            peer = self.session.peer
            self.sink_peer = "%s:%s" % (peer[0], peer[1]) if peer else "?"
        self.session.sink_connection = self.sink_connection
        self.session.sink_peer = self.sink_peer


REJECT_TEXT = {
    421: "4.3.0 Service not available, closing channel",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.2.2 Insufficient storage",
    550: "5.1.1 Mailbox unavailable",
    551: "5.1.6 User not local",
    552: "5.2.2 Mailbox full",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed",
}


class Sink:
    def __init__(self, directory, rejects=()):
        self.directory = directory
        self.seq = 0
        self.rejects = list(rejects)  # [(substring, code)]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for substring, code in self.rejects:
            if substring in address:
                sys.stderr.write("smtp-sink: RCPT refused with %d\n" % code)
                sys.stderr.flush()
                return "%d %s" % (code, REJECT_TEXT.get(code, "%d.0.0 Refused" % (code // 100)))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    def _write(self, name, data):
        path = os.path.join(self.directory, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        stem = "%06d" % self.seq
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else \
                (envelope.content or "").encode("utf-8")
        login = None
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        meta = {
            "seq": self.seq,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "connection_id": "%s#%d" % (session.sink_peer, session.sink_connection),
            "connection": session.sink_connection,
            "peer": session.sink_peer,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "login": login,
            "received_at": time.time(),
        }
        self._write(stem + ".eml", raw)
        self._write(stem + ".json", json.dumps(meta, indent=1).encode("utf-8"))
        sys.stderr.write("smtp-sink: message %s from %s to %s on connection %s\n"
                         % (stem, envelope.mail_from, envelope.rcpt_tos, meta["connection_id"]))
        sys.stderr.flush()
        return "250 2.0.0 Ok: queued as %s" % stem


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode("utf-8")
              and auth_data.password == password.encode("utf-8"))
        # handled=False: aiosmtpd answers 535 itself on failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return authenticator


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    rejects = []
    for spec in args.reject or []:
        substring, _, code = spec.rpartition(":")
        rejects.append((substring, int(code)))
    handler = Sink(args.dir, rejects)
    kwargs = {"hostname": "smtp-sink.test", "ident": "Herald SMTP sink", "decode_data": False,
              "enable_SMTPUTF8": True}
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.starttls[0], args.starttls[1])
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.require_auth:
        user, _, password = args.require_auth.partition(":")
        kwargs.update(authenticator=make_authenticator(user, password), auth_required=True,
                      auth_require_tls=bool(args.starttls))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkSMTP(handler, loop=loop, **kwargs),
                                      host="127.0.0.1", port=args.port)
    port = server.sockets[0].getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    sys.stderr.write("smtp-sink: listening on 127.0.0.1:%d (starttls=%s, auth=%s)\n"
                     % (port, bool(args.starttls), bool(args.require_auth)))
    sys.stderr.flush()
    async with server:
        await server.serve_forever()


def main():
    # aiosmtpd's own logger only adds a deprecation notice per AUTH (Session.login_data).
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description="SMTP sink for Herald's tests")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--require-auth", metavar="USER:PASS")
    parser.add_argument("--reject", action="append", metavar="RCPT_SUBSTRING:CODE")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
