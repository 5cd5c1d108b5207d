#!/usr/bin/env python3
"""Provider sandbox: imitates the HTTP APIs of Twilio, the WhatsApp Cloud API, Messenger
(Graph API), SendGrid v3 and the WeChat Official Account API on one local port, in their
wire formats, authentication and error bodies (see /work/shared/spec/providers.md), and
offers a JSON control API under /_sandbox for the tests.

    python3 provider_sandbox.py --port-file FILE [--quiet]

Binds 127.0.0.1 on a free port, writes the port number to FILE once listening (atomically),
and serves until killed. Standard library only.

Provider prefixes (Herald's base_url is http://127.0.0.1:PORT/<prefix>):
  /twilio     POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (form, HTTP Basic)
  /whatsapp   POST [/vNN.N]/{phone_number_id}/messages                (JSON, Bearer)
  /messenger  POST [/vNN.N]/me/messages?access_token=T  or  /{PAGE_ID}/messages
  /sendgrid   POST /v3/mail/send                                      (JSON, Bearer)
  /wechat     GET  /cgi-bin/token?grant_type=client_credential&appid=A&secret=S
              POST /cgi-bin/message/custom/send?access_token=T
              POST /cgi-bin/message/template/send?access_token=T
  /hook       any method, any path: a generic receiver (workflow webhooks) that records the
              request and answers 200 {"ok": true, "seq": N}; faults apply as for sends

Control API (JSON):
  GET    /_sandbox/requests[?provider=P]   {"items": [...]} in arrival order
  DELETE /_sandbox/requests                clears the log and the request counters
  POST   /_sandbox/faults                  {"provider": P, "faults": [...], "always": {...}|null}
  GET    /_sandbox/faults                  pending scripted faults and "always" faults
  DELETE /_sandbox/faults[?provider=P]     clears scripted and "always" faults
  GET    /_sandbox/stats                   {"wechat_tokens_issued": N, "requests": {P: n}, ...}
  POST   /_sandbox/reset                   everything back to the start state
  POST   /_sandbox/webhook                 builds, signs and sends a provider webhook
  *      /_sandbox/echo                    answers with the request it received
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------- credentials
# Keep in sync with tests/support/sandbox.hpp.

TWILIO_SID = "ACtest00000000000000000000000000000"
TWILIO_TOKEN = "twilio-auth-token"
WHATSAPP_TOKEN = "wa-access-token"
WHATSAPP_PHONE_ID = "1555000111"
WHATSAPP_APP_SECRET = "wa-app-secret"
WHATSAPP_VERIFY_TOKEN = "wa-verify-token"
MESSENGER_TOKEN = "page-access-token"
MESSENGER_PAGE_ID = "1099000111"
MESSENGER_APP_SECRET = "fb-app-secret"
MESSENGER_VERIFY_TOKEN = "fb-verify-token"
SENDGRID_KEY = "SG.sandbox-key"
# The signed event webhook's key pair (ECDSA P-256): the private key signs here, the
# public key (base64 DER, as SendGrid shows it) goes in Herald's config.
SENDGRID_WEBHOOK_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgz7AIjf/rxw83DKAY
hneErPhVS3jE8AjpSKnzov3B/IShRANCAAT0MCBBpfI+alghDRH/oeahAKdsx85d
Gk9urHRIwhGmEnduzvl9AGkWHdtxEljbiQ6lHkn8GWJlWD4BuT5IY3I/
-----END PRIVATE KEY-----
"""
SENDGRID_WEBHOOK_PUBLIC_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9DAgQaXyPmpYIQ0R/6HmoQCnbMfOXRpP"
                               "bqx0SMIRphJ3bs75fQBpFh3bcRJY24kOpR5J/BliZVg+Abk+SGNyPw==")
WECHAT_APPID = "wx-sandbox-app"
WECHAT_SECRET = "wechat-app-secret"
WECHAT_SERVER_TOKEN = "wechat-server-token"

PROVIDERS = ("twilio", "whatsapp", "messenger", "sendgrid", "wechat", "hook")
FAULT_KINDS = ("http", "error", "delay", "close")

# --------------------------------------------------------------------------- state


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = []
        self.counts = {p: 0 for p in PROVIDERS}
        self.faults = {p: [] for p in PROVIDERS}
        self.always = {p: None for p in PROVIDERS}
        self.wechat_token = None
        self.wechat_tokens_issued = 0
        self.wechat_msgid = 200228332
        self.seq = 0


STATE = State()
QUIET = False


def log(msg):
    if not QUIET:
        sys.stderr.write("[sandbox %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stderr.flush()


# --------------------------------------------------------------------------- helpers


class Reply:
    def __init__(self, status=200, body=b"", headers=None, close=False):
        self.status = status
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        self.headers = list(headers or [])
        self.close = close


def json_reply(status, obj, headers=None, content_type="application/json"):
    h = [("Content-Type", content_type)] + list(headers or [])
    return Reply(status, json.dumps(obj), h)


def rand_hex(n):
    return secrets.token_hex((n + 1) // 2)[:n]


def rand_alnum(n):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


def rand_digits(n):
    return "".join(secrets.choice("0123456789") for _ in range(n))


def bearer(headers):
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


def first(form, name):
    values = form.get(name) if form else None
    return values[0] if values else None


def is_obj(x):
    return isinstance(x, dict)


def nonempty_str(x):
    return isinstance(x, str) and x != ""


EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
# A Twilio sender: E.164 (optionally on a channel such as whatsapp:), a short code, or an
# alphanumeric sender ID (1-11 characters, at least one letter).
SENDER_RE = re.compile(r"^(?:(?:[a-z]+:)?\+[1-9][0-9]{6,14}|[0-9]{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$")

# --------------------------------------------------------------------------- Twilio

TWILIO_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21212: "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS.",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30001: "Queue overflow",
}


def twilio_status_for(code):
    if code == 20429:
        return 429
    if code == 20003:
        return 401
    if code == 20404:
        return 404
    if code == 20500:
        return 500
    return 400


def twilio_error(code, status=None, message=None, headers=None):
    status = status or twilio_status_for(code)
    body = {
        "code": code,
        "message": message or TWILIO_MESSAGES.get(code, "Error %d" % code),
        "more_info": "https://www.twilio.com/docs/errors/%d" % code,
        "status": status,
    }
    return json_reply(status, body, headers)


GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = set("^{}\\[~]|€\f")


def sms_segments(body):
    if all(c in GSM7_BASIC or c in GSM7_EXT for c in body):
        units = sum(2 if c in GSM7_EXT else 1 for c in body)
        return 1 if units <= 160 else -(-units // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def twilio_send(req, sid):
    form = req["form"] or {}
    to = first(form, "To")
    sender = first(form, "From")
    service = first(form, "MessagingServiceSid")
    body = first(form, "Body")
    media = form.get("MediaUrl", [])
    if not to:
        return twilio_error(21604)
    bare_to = to[len("whatsapp:"):] if to.startswith("whatsapp:") else to
    if not E164_RE.match(bare_to):
        return twilio_error(21211, message="The 'To' number %s is not a valid phone number." % to)
    if not sender and not service:
        return twilio_error(21603)
    if sender and not SENDER_RE.match(sender):
        return twilio_error(21212, message="The 'From' number %s is not a valid phone number, "
                            "shortcode, or alphanumeric sender ID." % sender)
    if body is None and not media:
        return twilio_error(21602)
    body = body or ""
    if len(body) > 1600:
        return twilio_error(21617)
    msid = "SM" + rand_hex(32)
    now = format_datetime(datetime.now(timezone.utc))
    uri = "/2010-04-01/Accounts/%s/Messages/%s.json" % (sid, msid)
    result = {
        "account_sid": sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender if sender else None,
        "messaging_service_sid": service,
        "num_media": str(len(media)),
        "num_segments": str(sms_segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": msid,
        "status": "accepted" if service else "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": to,
        "uri": uri,
    }
    return json_reply(201, result)


def twilio_route(req):
    m = re.match(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$", req["rest"])
    if not m or req["method"] != "POST":
        return None
    return ("send", m.group(1))


def twilio_auth(req):
    value = req["headers"].get("authorization", "")
    if value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode("utf-8")
    except Exception:
        return None
    user, _, password = decoded.partition(":")
    return user, password


def twilio_handle(req, route):
    if route is None:
        return twilio_error(20404, message="The requested resource %s was not found" % req["rest"])
    creds = twilio_auth(req)
    if creds != (TWILIO_SID, TWILIO_TOKEN):
        return twilio_error(20003, headers=[("WWW-Authenticate", 'Basic realm="Twilio API"')])
    sid = route[1]
    if sid != TWILIO_SID:
        return twilio_error(20404, message="The requested resource %s was not found" % req["rest"])
    return twilio_send(req, sid)


def twilio_fault_error(fault):
    code = int(fault.get("code", 21211))
    headers = list(fault_headers(fault))
    if code == 20429 and not any(k.lower() == "retry-after" for k, _ in headers):
        headers.append(("Retry-After", str(fault.get("retry_after", 1))))
    return twilio_error(code, status=fault.get("status"), message=fault.get("message"), headers=headers)


# --------------------------------------------------------------------------- Graph (WhatsApp, Messenger)

GRAPH_MESSAGES = {
    0: "AuthException",
    4: "(#4) Application request limit reached",
    10: "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    368: "(#368) Temporarily blocked for policies violations",
    551: "(#551) This person isn't available right now.",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    130429: "(#130429) Rate limit hit",
    131026: "(#131026) Message Undeliverable",
    131047: "(#131047) Re-engagement message",
    131048: "(#131048) Spam rate limit hit",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
}

WHATSAPP_DETAILS = {
    130429: "Cloud API message throughput has been reached.",
    131026: "Message Undeliverable.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    131048: "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
    131056: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
}


def whatsapp_status_for(code):
    if code in (0, 190):
        return 401
    if code == 10 or 200 <= code <= 299:
        return 403
    if code == 4:
        return 429
    return 400


def messenger_status_for(code):
    if code in (0, 190):
        return 401
    if 200 <= code <= 299:
        return 403
    if code in (4, 613, 17, 32):
        return 429
    return 400  # code 10 (outside the window), 100, 551, ...


def graph_error(provider, code, message=None, status=None, subcode=None, type_=None,
                details=None, headers=None):
    if status is None:
        status = whatsapp_status_for(code) if provider == "whatsapp" else messenger_status_for(code)
    if provider == "messenger" and subcode is None:
        subcode = {10: 2018278, 551: 1545041}.get(code)
    err = {
        "message": message or GRAPH_MESSAGES.get(code, "(#%d) An error occurred" % code),
        "type": type_ or "OAuthException",
        "code": code,
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    if provider == "whatsapp":
        err["error_data"] = {
            "messaging_product": "whatsapp",
            "details": details or WHATSAPP_DETAILS.get(code, err["message"]),
        }
    err["fbtrace_id"] = "A" + rand_alnum(22)
    h = [("WWW-Authenticate", 'OAuth "Facebook Platform" "invalid_token" "%s"' % err["message"])] \
        if status == 401 else []
    return json_reply(status, {"error": err}, h + list(headers or []))


def graph_param_error(provider, message, subcode=None):
    return graph_error(provider, 100, message=message, subcode=subcode)


def graph_token(req):
    return bearer(req["headers"]) or req["query"].get("access_token")


def graph_fault_error(provider, fault):
    code = int(fault.get("code", 100))
    return graph_error(provider, code, message=fault.get("message"), status=fault.get("status"),
                       subcode=fault.get("subcode"), type_=fault.get("type"),
                       details=fault.get("details"), headers=fault_headers(fault))


def whatsapp_route(req):
    m = re.match(r"^(?:/v[0-9]+\.[0-9]+)?/([^/]+)/messages$", req["rest"])
    if not m or req["method"] != "POST":
        return None
    return ("send", m.group(1))


def whatsapp_handle(req, route):
    if route is None:
        return graph_error("whatsapp", 100, type_="GraphMethodException", subcode=33,
                           message="Unsupported request - method type: %s" % req["method"].lower())
    if graph_token(req) != WHATSAPP_TOKEN:
        return graph_error("whatsapp", 190)
    if route[1] != WHATSAPP_PHONE_ID:
        return graph_error(
            "whatsapp", 100, type_="GraphMethodException", subcode=33,
            message="Unsupported post request. Object with ID '%s' does not exist, cannot be loaded "
                    "due to missing permissions, or does not support this operation." % route[1])
    p = req["json"]
    if not is_obj(p):
        return graph_param_error("whatsapp", "(#100) Invalid parameter")
    if p.get("messaging_product") != "whatsapp":
        return graph_param_error("whatsapp", "(#100) The parameter messaging_product is required.")
    to = p.get("to")
    if not nonempty_str(to):
        return graph_param_error("whatsapp", "(#100) The parameter to is required.")
    mtype = p.get("type", "text")
    extra = {}
    if mtype == "text":
        text = p.get("text")
        if not is_obj(text) or not nonempty_str(text.get("body")):
            return graph_param_error("whatsapp", "(#100) The parameter text['body'] is required.")
        if len(text["body"]) > 4096:
            return graph_param_error("whatsapp", "(#100) Param text['body'] must be at most 4096 characters long.")
    elif mtype == "template":
        tpl = p.get("template")
        if not is_obj(tpl) or not nonempty_str(tpl.get("name")):
            return graph_param_error("whatsapp", "(#100) The parameter template['name'] is required.")
        lang = tpl.get("language")
        if not is_obj(lang) or not nonempty_str(lang.get("code")):
            return graph_param_error("whatsapp", "(#100) The parameter template['language']['code'] is required.")
        comps = tpl.get("components", [])
        if not isinstance(comps, list) or not all(is_obj(c) and nonempty_str(c.get("type")) for c in comps):
            return graph_param_error("whatsapp", "(#100) Invalid parameter template['components']")
        extra["message_status"] = "accepted"
    else:
        if not is_obj(p.get(mtype)):
            return graph_param_error("whatsapp", "(#100) The parameter %s is required." % mtype)
    wa_id = re.sub(r"[^0-9]", "", to)
    msg = {"id": "wamid." + base64.b64encode(secrets.token_bytes(30)).decode("ascii")}
    msg.update(extra)
    return json_reply(200, {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [msg],
    })


def messenger_route(req):
    m = re.match(r"^(?:/v[0-9]+\.[0-9]+)?/([^/]+)/messages$", req["rest"])
    if not m or req["method"] != "POST":
        return None
    return ("send", m.group(1))


def messenger_handle(req, route):
    if route is None:
        return graph_error("messenger", 100, type_="GraphMethodException", subcode=33,
                           message="Unsupported request - method type: %s" % req["method"].lower())
    if graph_token(req) != MESSENGER_TOKEN:
        return graph_error("messenger", 190, subcode=None)
    if route[1] not in ("me", MESSENGER_PAGE_ID):
        return graph_error(
            "messenger", 100, type_="GraphMethodException", subcode=33,
            message="Unsupported post request. Object with ID '%s' does not exist, cannot be loaded "
                    "due to missing permissions, or does not support this operation." % route[1])
    p = req["json"]
    if p is None and req["form"]:
        # Graph also accepts form-encoded parameters whose values are JSON.
        p = {}
        for k, v in req["form"].items():
            try:
                p[k] = json.loads(v[0])
            except ValueError:
                p[k] = v[0]
    if not is_obj(p):
        return graph_param_error("messenger", "(#100) Invalid parameter")
    rcpt = p.get("recipient")
    if not is_obj(rcpt) or not (nonempty_str(rcpt.get("id")) or isinstance(rcpt.get("id"), int)):
        return graph_param_error("messenger", "(#100) The parameter recipient is required")
    rid = str(rcpt["id"])
    if not rid.isdigit():
        return graph_param_error("messenger", "(#100) No matching user found", subcode=2018001)
    mtype = p.get("messaging_type")
    if mtype not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        return graph_param_error("messenger", "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    if mtype == "MESSAGE_TAG" and not nonempty_str(p.get("tag")):
        return graph_param_error("messenger", "(#100) Param tag is required when messaging_type is MESSAGE_TAG")
    msg = p.get("message")
    if not is_obj(msg) or ("text" not in msg and "attachment" not in msg):
        return graph_param_error("messenger", "(#100) The parameter message is required")
    if "text" in msg:
        if not nonempty_str(msg["text"]):
            return graph_param_error("messenger", "(#100) Param message[text] must be a non-empty UTF-8 encoded string")
        if len(msg["text"]) > 2000:
            return graph_param_error("messenger", "(#100) Length of param message[text] must be less than or equal to 2000")
    return json_reply(200, {"recipient_id": rid, "message_id": "m_" + rand_alnum(86)})


# --------------------------------------------------------------------------- SendGrid

SG_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
SENDGRID_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    404: "not found",
    413: "The JSON payload you have included in your request is too large.",
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
}


def sendgrid_errors(status, errors, headers=None):
    return json_reply(status, {"errors": errors}, headers)


def sg_err(message, field=None, help_=None):
    return {"message": message, "field": field, "help": help_}


def sendgrid_route(req):
    if req["rest"] == "/v3/mail/send" and req["method"] == "POST":
        return ("send",)
    return None


def sendgrid_handle(req, route):
    if route is None:
        return sendgrid_errors(404, [sg_err("not found")])
    if "authorization" not in req["headers"]:
        return sendgrid_errors(401, [sg_err("authorization required")])
    if bearer(req["headers"]) != SENDGRID_KEY:
        return sendgrid_errors(401, [sg_err(SENDGRID_MESSAGES[401])])
    p = req["json"]
    if not is_obj(p):
        return sendgrid_errors(400, [sg_err("Bad Request", None, None)])
    errors = []
    pers = p.get("personalizations")
    if not isinstance(pers, list) or not pers:
        errors.append(sg_err(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations", SG_HELP + "#-Personalizations-Errors"))
        pers = []
    for i, per in enumerate(pers):
        to = per.get("to") if is_obj(per) else None
        if not isinstance(to, list) or not to:
            errors.append(sg_err(
                "The to array is required for all personalization objects, and must have at least "
                "one email object with a valid email address.",
                "personalizations.%d.to" % i, SG_HELP + "#message.personalizations.to"))
            continue
        for j, rcpt in enumerate(to):
            email = rcpt.get("email") if is_obj(rcpt) else None
            if not isinstance(email, str) or not EMAIL_RE.match(email):
                errors.append(sg_err("Does not contain a valid address.",
                                     "personalizations.%d.to.%d.email" % (i, j),
                                     SG_HELP + "#message.personalizations.to"))
    sender = p.get("from")
    if not is_obj(sender) or "email" not in sender:
        errors.append(sg_err(
            "The from object must be provided for every email send. It is an object that requires "
            "the email parameter, but may also contain a name parameter.",
            "from", SG_HELP + "#message.from"))
    elif not isinstance(sender.get("email"), str) or not EMAIL_RE.match(sender["email"]):
        errors.append(sg_err("The from email does not contain a valid address.", "from.email",
                             SG_HELP + "#message.from"))
    has_template = nonempty_str(p.get("template_id"))
    all_subjects = bool(pers) and all(is_obj(x) and nonempty_str(x.get("subject")) for x in pers)
    if not nonempty_str(p.get("subject")) and not all_subjects and not has_template:
        errors.append(sg_err(
            "The subject is required. You can get around this requirement if you use a template "
            "with a subject defined or if every personalization has a subject defined.",
            "subject", SG_HELP + "#message.subject"))
    content = p.get("content")
    if content is None or (isinstance(content, list) and not content):
        if not has_template:
            errors.append(sg_err(
                "Unless a valid template_id is provided, the content parameter is required. There "
                "must be at least one defined content block. We typically suggest both text/plain "
                "and text/html blocks are included, but only one block is required.",
                "content", SG_HELP + "#message.content"))
    elif not isinstance(content, list):
        errors.append(sg_err("Bad Request", "content"))
    else:
        types = []
        for k, block in enumerate(content):
            ctype = block.get("type") if is_obj(block) else None
            value = block.get("value") if is_obj(block) else None
            if not nonempty_str(ctype):
                errors.append(sg_err("The content type must be provided.", "content.%d.type" % k,
                                     SG_HELP + "#message.content.type"))
            if not nonempty_str(value):
                errors.append(sg_err("The content value must be a string at least one character in length.",
                                     "content.%d.value" % k, SG_HELP + "#message.content.value"))
            types.append(ctype)
        if "text/plain" in types and types[0] != "text/plain":
            errors.append(sg_err(
                "If present, text/plain content must be first, followed by text/html, followed by "
                "any other content.", "content.0.type", SG_HELP + "#message.content.type"))
    if errors:
        return sendgrid_errors(400, errors)
    msg_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
    return Reply(202, b"", [("X-Message-Id", msg_id)])


def sendgrid_fault_error(fault):
    code = fault.get("code")
    status = fault.get("status")
    if status is None:
        status = int(code) if isinstance(code, int) and 100 <= code <= 599 else 400
    headers = list(fault_headers(fault))
    if status == 429:
        reset = int(time.time()) + int(fault.get("retry_after", 1))
        headers += [("X-RateLimit-Limit", "600"), ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", str(reset))]
    message = fault.get("message") or SENDGRID_MESSAGES.get(status, "error")
    return sendgrid_errors(status, [sg_err(message, fault.get("field"), fault.get("help"))], headers)


# --------------------------------------------------------------------------- WeChat

WECHAT_MESSAGES = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43002: "require POST method",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    48001: "api unauthorized",
}


def wechat_reply(errcode, errmsg=None, extra=None, headers=None):
    body = {"errcode": errcode,
            "errmsg": errmsg or WECHAT_MESSAGES.get(errcode, "error")}
    if errcode != 0:
        body["errmsg"] += " rid: %s-%s-%s" % (rand_hex(8), rand_hex(8), rand_hex(8))
    if extra:
        body.update(extra)
    return json_reply(200, body, headers, content_type="application/json; encoding=utf-8")


def wechat_route(req):
    rest = req["rest"]
    if rest == "/cgi-bin/token":
        return ("token",)
    if rest == "/cgi-bin/message/custom/send":
        return ("send", "custom")
    if rest == "/cgi-bin/message/template/send":
        return ("send", "template")
    return None


def wechat_issue_token(req):
    q = req["query"]
    if q.get("grant_type") != "client_credential":
        return wechat_reply(40002)
    if not q.get("appid"):
        return wechat_reply(41002)
    if q["appid"] != WECHAT_APPID:
        return wechat_reply(40013)
    if not q.get("secret"):
        return wechat_reply(41004)
    if q["secret"] != WECHAT_SECRET:
        return wechat_reply(40125)
    with STATE.lock:
        STATE.wechat_tokens_issued += 1
        n = STATE.wechat_tokens_issued
        token = "SBX%d_%s" % (n, secrets.token_urlsafe(96))
        STATE.wechat_token = token
    return json_reply(200, {"access_token": token, "expires_in": 7200},
                      content_type="application/json; encoding=utf-8")


def wechat_check_token(req):
    token = req["query"].get("access_token")
    if not token:
        return wechat_reply(41001)
    with STATE.lock:
        current = STATE.wechat_token
    if token != current:
        return wechat_reply(40001)
    return None


def wechat_handle(req, route):
    if route is None:
        return json_reply(404, {"errcode": 404, "errmsg": "sandbox: no such WeChat endpoint"})
    if route[0] == "token":
        return wechat_issue_token(req)
    if req["method"] != "POST":
        return wechat_reply(43002)
    bad = wechat_check_token(req)
    if bad:
        return bad
    p = req["json"]
    if not is_obj(p):
        return wechat_reply(47001, "data format error hint: [%s]" % rand_alnum(10))
    if not nonempty_str(p.get("touser")):
        return wechat_reply(40003)
    if route[1] == "custom":
        mtype = p.get("msgtype")
        if not nonempty_str(mtype):
            return wechat_reply(40008)
        if mtype == "text":
            text = p.get("text")
            if not is_obj(text) or not nonempty_str(text.get("content")):
                return wechat_reply(44004)
            if len(text["content"].encode("utf-8")) > 2048:
                return wechat_reply(45002)
        elif mtype not in ("image", "voice", "video", "music", "news", "mpnews", "msgmenu",
                           "wxcard", "miniprogrampage", "mpnewsarticle") or not is_obj(p.get(mtype)):
            return wechat_reply(40008)
        return wechat_reply(0, "ok")
    if not nonempty_str(p.get("template_id")):
        return wechat_reply(40037)
    data = p.get("data")
    if not is_obj(data) or not all(is_obj(v) and "value" in v for v in data.values()):
        return wechat_reply(47001, "data format error hint: [%s]" % rand_alnum(10))
    with STATE.lock:
        STATE.wechat_msgid += 1
        msgid = STATE.wechat_msgid
    return wechat_reply(0, "ok", {"msgid": msgid})


def wechat_fault_error(fault):
    code = int(fault.get("code", -1))
    if code in (40001, 42001, 40014):
        with STATE.lock:
            STATE.wechat_token = None
    return wechat_reply(code, fault.get("message"), headers=fault_headers(fault))


# --------------------------------------------------------------------------- faults

def hook_route(req):
    return ("send",)


def hook_handle(req, route):
    with STATE.lock:
        seq = STATE.seq
    return json_reply(200, {"ok": True, "seq": seq})


ROUTES = {
    "hook": hook_route,
    "twilio": twilio_route,
    "whatsapp": whatsapp_route,
    "messenger": messenger_route,
    "sendgrid": sendgrid_route,
    "wechat": wechat_route,
}

HANDLERS = {
    "hook": hook_handle,
    "twilio": twilio_handle,
    "whatsapp": whatsapp_handle,
    "messenger": messenger_handle,
    "sendgrid": sendgrid_handle,
    "wechat": wechat_handle,
}


def fault_headers(fault):
    h = fault.get("headers") or {}
    out = [(k, str(v)) for k, v in h.items()]
    if "retry_after" in fault and not any(k.lower() == "retry-after" for k, _ in out):
        out.append(("Retry-After", str(fault["retry_after"])))
    return out


def error_fault_reply(provider, fault):
    if provider == "twilio":
        return twilio_fault_error(fault)
    if provider in ("whatsapp", "messenger"):
        return graph_fault_error(provider, fault)
    if provider == "sendgrid":
        return sendgrid_fault_error(fault)
    return wechat_fault_error(fault)


def take_fault(provider):
    with STATE.lock:
        if STATE.faults[provider]:
            return STATE.faults[provider].pop(0)
        return STATE.always[provider]


def validate_fault(f):
    if not is_obj(f) or f.get("kind") not in FAULT_KINDS:
        return "each fault needs \"kind\" in %s" % (FAULT_KINDS,)
    if f["kind"] == "http" and not isinstance(f.get("status"), int):
        return "an http fault needs an integer \"status\""
    if f["kind"] == "error" and not isinstance(f.get("code", 0), int):
        return "an error fault needs an integer \"code\""
    if f["kind"] == "delay" and not isinstance(f.get("ms"), (int, float)):
        return "a delay fault needs \"ms\""
    return None


# --------------------------------------------------------------------------- webhooks


def twilio_signature(secret, url, pairs):
    grouped = {}
    for k, v in pairs:
        grouped.setdefault(k, []).append(v)
    data = url + "".join(k + v for k in sorted(grouped) for v in sorted(grouped[k]))
    digest = hmac.new(secret.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def meta_json(payload):
    """Meta's webhook bodies: compact, non-ASCII escaped as \\uXXXX and '/' escaped as '\\/'."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def as_pairs(params):
    pairs = []
    if isinstance(params, list):
        for item in params:
            pairs.append((str(item[0]), str(item[1])))
        return pairs
    for k, v in (params or {}).items():
        for value in (v if isinstance(v, list) else [v]):
            pairs.append((str(k), "" if value is None else str(value)))
    return pairs


def add_query(url, pairs):
    if not pairs:
        return url
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(pairs)


def ecdsa_sign(data):
    """base64 of the DER ECDSA-SHA256 signature of data with the sandbox's SendGrid key
    (the openssl command line: the standard library has no ECDSA)."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as key:
        key.write(SENDGRID_WEBHOOK_PRIVATE_KEY)
        key.flush()
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key.name], input=data,
                             capture_output=True, check=True).stdout
    return base64.b64encode(der).decode("ascii")


def build_webhook(spec):
    provider = spec.get("provider")
    url = spec.get("url")
    if provider not in PROVIDERS or not nonempty_str(url):
        raise ValueError("webhook needs \"provider\" (one of %s) and \"url\"" % (PROVIDERS,))
    method = str(spec.get("method", "POST")).upper()
    mode = spec.get("signature", "good")
    if mode not in ("good", "bad", "none"):
        raise ValueError("\"signature\" must be good, bad or none")
    headers = []
    body = b""

    if provider == "twilio":
        secret = spec.get("secret", TWILIO_TOKEN)
        pairs = as_pairs(spec.get("params"))
        signed_url = spec.get("signed_url", url)
        if method == "GET":
            url = add_query(url, pairs)
            signed_url = add_query(signed_url, pairs)
            signature = twilio_signature(secret if mode == "good" else secret + "-wrong", signed_url, [])
        else:
            body = urllib.parse.urlencode(pairs).encode("ascii")
            headers.append(("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"))
            signature = twilio_signature(secret if mode == "good" else secret + "-wrong",
                                         signed_url, pairs)
        if mode != "none":
            headers.append(("X-Twilio-Signature", signature))
        headers.append(("I-Twilio-Idempotency-Token", str(uuid.uuid4())))
        headers.append(("User-Agent", "TwilioProxy/1.1"))
        headers.append(("Accept", "*/*"))

    elif provider in ("whatsapp", "messenger"):
        default_secret = WHATSAPP_APP_SECRET if provider == "whatsapp" else MESSENGER_APP_SECRET
        default_verify = WHATSAPP_VERIFY_TOKEN if provider == "whatsapp" else MESSENGER_VERIFY_TOKEN
        if method == "GET":
            if "params" in spec:
                pairs = as_pairs(spec["params"])
            else:
                pairs = [("hub.mode", spec.get("mode", "subscribe")),
                         ("hub.challenge", str(spec.get("challenge", rand_digits(10)))),
                         ("hub.verify_token", spec.get("verify_token", default_verify))]
            url = add_query(url, pairs)
        else:
            secret = spec.get("secret", default_secret)
            if "body" in spec:
                raw = spec["body"]
            else:
                raw = meta_json(spec.get("json", {}))
            body = raw.encode("utf-8")
            key = (secret if mode == "good" else secret + "-wrong").encode("utf-8")
            headers.append(("Content-Type", "application/json"))
            if mode != "none":
                headers.append(("X-Hub-Signature", "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()))
                headers.append(("X-Hub-Signature-256",
                                "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()))
        headers.append(("User-Agent", "facebookexternalua"))
        headers.append(("Accept", "*/*"))

    elif provider == "wechat":
        token = spec.get("token", spec.get("secret", WECHAT_SERVER_TOKEN))
        timestamp = str(spec.get("timestamp", int(time.time())))
        nonce = str(spec.get("nonce", rand_digits(10)))
        signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()
        if mode == "bad":
            signature = hashlib.sha1(("x" + signature).encode("ascii")).hexdigest()
        pairs = []
        if mode != "none":
            pairs.append(("signature", signature))
        if method == "GET":
            pairs.append(("echostr", str(spec.get("echostr", rand_digits(19)))))
        pairs += [("timestamp", timestamp), ("nonce", nonce)]
        if method != "GET":
            if "openid" in spec:
                pairs.append(("openid", spec["openid"]))
            body = spec.get("xml", spec.get("body", "")).encode("utf-8")
            headers.append(("Content-Type", "text/xml"))
        pairs += as_pairs(spec.get("params"))
        url = add_query(url, pairs)
        headers.append(("User-Agent", "Mozilla/4.0"))
        headers.append(("Accept", "*/*"))

    else:  # sendgrid's signed event webhook: a JSON array, ECDSA over timestamp + body
        if "body" in spec:
            body = spec["body"].encode("utf-8")
        else:
            body = json.dumps(spec.get("json", [])).encode("utf-8")
        timestamp = str(spec.get("timestamp", int(time.time())))
        headers.append(("Content-Type", "application/json"))
        headers.append(("User-Agent", "SendGrid Event API"))
        if mode != "none":
            signed = timestamp.encode("ascii") + body
            if mode == "bad":
                signed += b" "
            headers.append(("X-Twilio-Email-Event-Webhook-Signature", ecdsa_sign(signed)))
            headers.append(("X-Twilio-Email-Event-Webhook-Timestamp", timestamp))

    for k, v in (spec.get("headers") or {}).items():
        headers = [(hk, hv) for hk, hv in headers if hk.lower() != k.lower()]
        if v is not None:
            headers.append((k, str(v)))
    return method, url, headers, body


def send_webhook(spec):
    method, url, headers, body = build_webhook(spec)
    parts = urllib.parse.urlsplit(url)
    timeout = float(spec.get("timeout_ms", 10000)) / 1000.0
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    sent = {"method": method, "url": url, "headers": dict(headers), "body": body.decode("utf-8", "replace")}
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if body else None)
        resp = conn.getresponse()
        data = resp.read()
        rh = {}
        for k, v in resp.getheaders():
            k = k.lower()
            rh[k] = rh[k] + ", " + v if k in rh else v
        return 200, {"status": resp.status, "headers": rh, "body": data.decode("utf-8", "replace"),
                     "request": sent}
    except (OSError, http.client.HTTPException) as e:
        return 502, {"error": "webhook delivery failed: %s: %s" % (type(e).__name__, e), "request": sent}
    finally:
        conn.close()


# --------------------------------------------------------------------------- HTTP handler


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HeraldProviderSandbox/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        log("%s %s" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # ---- plumbing

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def write_reply(self, reply):
        if reply.close:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            self.send_response(reply.status)
            has_type = False
            for k, v in reply.headers:
                lk = k.lower()
                if lk in ("content-length", "transfer-encoding"):
                    continue
                if lk == "content-type":
                    has_type = True
                if lk == "connection" and v.lower() == "close":
                    self.close_connection = True
                self.send_header(k, v)
            if reply.body and not has_type:
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def dispatch(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        multi = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        query = {k: v[0] for k, v in multi.items()}
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        try:
            if path == "/_sandbox" or path.startswith("/_sandbox/"):
                reply = self.control(path, query, headers, body)
            else:
                segments = path.split("/", 2)
                provider = segments[1] if len(segments) > 1 else ""
                if provider in PROVIDERS:
                    rest = "/" + segments[2] if len(segments) > 2 else "/"
                    reply = self.provider(provider, rest, path, query, headers, body)
                else:
                    reply = json_reply(404, {"error": "sandbox: unknown path %s" % path})
        except Exception as e:  # never let a bug kill the connection silently
            import traceback
            traceback.print_exc()
            reply = json_reply(500, {"error": "sandbox bug: %s: %s" % (type(e).__name__, e)})
        self.write_reply(reply)

    # ---- providers

    def provider(self, provider, rest, path, query, headers, body):
        text = body.decode("utf-8", "replace")
        ctype = headers.get("content-type", "").lower()
        form = None
        if "application/x-www-form-urlencoded" in ctype:
            form = urllib.parse.parse_qs(text, keep_blank_values=True)
        parsed = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        with STATE.lock:
            STATE.seq += 1
            rec = {"seq": STATE.seq, "time": time.time(), "provider": provider,
                   "method": self.command, "path": path, "query": query, "headers": headers,
                   "body": text, "form": form, "json": parsed, "status": None, "fault": None}
            STATE.requests.append(rec)
            STATE.counts[provider] += 1
        req = {"method": self.command, "rest": rest, "query": query, "headers": headers,
               "form": form, "json": parsed, "body": text}
        route = ROUTES[provider](req)
        reply = None
        if route is not None and route[0] == "send":
            fault = take_fault(provider)
            if fault is not None:
                with STATE.lock:
                    rec["fault"] = fault.get("kind")
                kind = fault["kind"]
                if kind == "http":
                    fb = fault.get("body", "")
                    fh = fault_headers(fault)
                    if not isinstance(fb, str):
                        fb = json.dumps(fb)
                        if not any(k.lower() == "content-type" for k, _ in fh):
                            fh.append(("Content-Type", "application/json"))
                    reply = Reply(int(fault["status"]), fb, fh)
                elif kind == "error":
                    reply = error_fault_reply(provider, fault)
                elif kind == "close":
                    reply = Reply(close=True)
                elif kind == "delay":
                    time.sleep(float(fault["ms"]) / 1000.0)
        if reply is None:
            reply = HANDLERS[provider](req, route)
        with STATE.lock:
            rec["status"] = None if reply.close else reply.status
        return reply

    # ---- control API

    def control(self, path, query, headers, body):
        method = self.command
        text = body.decode("utf-8", "replace")
        if path == "/_sandbox/echo":
            return json_reply(200, {"method": method, "path": path, "target": self.path,
                                    "query": query, "headers": headers, "body": text})
        try:
            payload = json.loads(text) if text.strip() else {}
        except ValueError:
            return json_reply(400, {"error": "control API bodies are JSON"})

        if path == "/_sandbox/requests":
            if method == "GET":
                provider = query.get("provider")
                with STATE.lock:
                    items = [{k: v for k, v in r.items()} for r in STATE.requests
                             if not provider or r["provider"] == provider]
                    out = json.dumps({"items": items})
                return Reply(200, out, [("Content-Type", "application/json")])
            if method == "DELETE":
                with STATE.lock:
                    STATE.requests = []
                    STATE.counts = {p: 0 for p in PROVIDERS}
                return json_reply(200, {"ok": True})

        if path == "/_sandbox/faults":
            if method == "POST":
                provider = payload.get("provider")
                if provider not in PROVIDERS:
                    return json_reply(400, {"error": "\"provider\" must be one of %s" % (PROVIDERS,)})
                faults = payload.get("faults", [])
                if is_obj(faults):
                    faults = [faults]
                if not isinstance(faults, list):
                    return json_reply(400, {"error": "\"faults\" must be a list"})
                for f in faults + ([payload["always"]] if payload.get("always") is not None else []):
                    problem = validate_fault(f)
                    if problem:
                        return json_reply(400, {"error": problem, "fault": f})
                with STATE.lock:
                    STATE.faults[provider].extend(faults)
                    if "always" in payload:
                        STATE.always[provider] = payload["always"]
                    pending = len(STATE.faults[provider])
                return json_reply(200, {"ok": True, "pending": pending})
            if method == "GET":
                with STATE.lock:
                    out = {"pending": {p: list(STATE.faults[p]) for p in PROVIDERS},
                           "always": dict(STATE.always)}
                return json_reply(200, out)
            if method == "DELETE":
                provider = query.get("provider")
                with STATE.lock:
                    for p in PROVIDERS:
                        if not provider or p == provider:
                            STATE.faults[p] = []
                            STATE.always[p] = None
                return json_reply(200, {"ok": True})

        if path == "/_sandbox/stats" and method == "GET":
            with STATE.lock:
                out = {"wechat_tokens_issued": STATE.wechat_tokens_issued,
                       "wechat_access_token": STATE.wechat_token,
                       "requests": dict(STATE.counts),
                       "pending_faults": {p: len(STATE.faults[p]) for p in PROVIDERS}}
            return json_reply(200, out)

        if path == "/_sandbox/reset" and method == "POST":
            with STATE.lock:
                STATE.reset()
            return json_reply(200, {"ok": True})

        if path == "/_sandbox/webhook" and method == "POST":
            if not is_obj(payload):
                return json_reply(400, {"error": "webhook spec must be an object"})
            try:
                status, out = send_webhook(payload)
            except (ValueError, TypeError, KeyError) as e:
                return json_reply(400, {"error": str(e)})
            return json_reply(status, out)

        return json_reply(404, {"error": "sandbox: no control endpoint %s %s" % (method, path)})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    global QUIET
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    QUIET = args.quiet
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, args.port_file)
    log("listening on 127.0.0.1:%d" % port)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
