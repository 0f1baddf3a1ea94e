"""The PyPI `standardwebhooks` package (the Standard Webhooks reference library) as the receiver
of the service's webhooks: every delivery must pass its `Webhook(secret).verify`.

Run by tests/peers/run, which starts the service with the emulator and sets:
  PEERS_API        the service, e.g. http://127.0.0.1:8123
  PEERS_ADMIN_KEY  an API key with the uploads:admin scope

A receiver on loopback (allowed outside production) gets the events of uploads made through the
emulator. Prints `PASS name` / `FAIL name: why` per check and a last line `RESULT passed=N failed=M`.
"""

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from peer_checks import Checks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

API = os.environ["PEERS_API"].rstrip("/")
ADMIN = {"Authorization": "Bearer " + os.environ["PEERS_ADMIN_KEY"]}
CHECKS = Checks("webhooks")
check = CHECKS.check
SECRETS = {"current": [], "old": None}
RECEIVED = []  # (headers, body, verified payload or the verification error)
LOCK = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        results = {}
        for label, secret in [("current", s) for s in SECRETS["current"]] + [("old", SECRETS["old"])]:
            if not secret:
                continue
            try:
                results[label] = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as e:
                results.setdefault(label, e)
        with LOCK:
            RECEIVED.append((headers, body, results))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
HOOK = f"http://127.0.0.1:{server.server_port}/hook"


def png(extra=b""):
    return (
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"
        + (3).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + b"\x08\x06\0\0\0\x12\x34\x56\x78"
        + extra
    )


def user_token():
    body = {"username": "hooks-" + uuid.uuid4().hex[:12], "password": "correct horse battery"}
    r = requests.post(f"{API}/v1/auth/register", json=body, timeout=10)
    assert r.status_code in (200, 201), r.text
    r = requests.post(f"{API}/v1/auth/token", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


USER = user_token()


def upload():
    data = png(uuid.uuid4().bytes)
    body = {"profile": "avatar", "filename": "a.png", "content_type": "image/png", "size": len(data)}
    r = requests.post(f"{API}/v1/uploads", json=body, headers=USER, timeout=10)
    assert r.status_code == 201, r.text
    cred = r.json()
    r = requests.put(cred["put"]["url"], data=data, headers=cred["put"]["headers"], timeout=20)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    return cred["upload_id"]


def wait_for(pred, secs=20):
    deadline = time.time() + secs
    while time.time() < deadline:
        with LOCK:
            found = [r for r in RECEIVED if pred(r)]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no such delivery within {secs}s; got {len(RECEIVED)}")


def about(upload_id):
    return lambda r: json.loads(r[1]).get("data", {}).get("upload_id") == upload_id


STATE = {}


@check("register an endpoint: a whsec_ secret shown once")
def _():
    r = requests.post(f"{API}/v1/webhooks/endpoints", json={"url": HOOK}, headers=ADMIN, timeout=10)
    assert r.status_code == 201, r.text
    endpoint = r.json()
    assert endpoint["secret"].startswith("whsec_")
    SECRETS["current"] = [endpoint["secret"]]
    STATE["endpoint"] = endpoint["id"]


@check("upload.completed arrives and standardwebhooks verifies it")
def _():
    upload_id = upload()
    headers, body, results = wait_for(about(upload_id))[0]
    payload = results["current"]
    assert isinstance(payload, dict), f"verification failed: {payload!r}"
    assert payload["type"] == "upload.completed" and payload["data"]["status"] == "completed"
    assert headers["webhook-id"].startswith("evt_")
    STATE["event"] = (headers["webhook-id"], upload_id)


@check("a tampered body does not verify (the check is real)")
def _():
    headers, body, _ = wait_for(about(STATE["event"][1]))[0]
    try:
        Webhook(SECRETS["current"][0]).verify(body + b" ", headers)
    except WebhookVerificationError:
        return
    raise AssertionError("a changed body verified")


@check("replay re-sends the event with the same webhook-id, verified")
def _():
    event_id, upload_id = STATE["event"]
    r = requests.post(
        f"{API}/v1/webhooks/endpoints/{STATE['endpoint']}/replay", json={"event_id": event_id}, headers=ADMIN, timeout=10
    )
    assert r.status_code == 202, r.text
    deliveries = wait_for(lambda r: r[0]["webhook-id"] == event_id and len([x for x in RECEIVED if x[0]["webhook-id"] == event_id]) >= 2)
    assert all(isinstance(d[2]["current"], dict) for d in deliveries)


@check("after a rotation each delivery verifies with the new and with the old secret")
def _():
    r = requests.post(
        f"{API}/v1/webhooks/endpoints/{STATE['endpoint']}/rotate-secret", json={"overlap_secs": 600}, headers=ADMIN, timeout=10
    )
    assert r.status_code == 200, r.text
    SECRETS["old"] = SECRETS["current"][0]
    SECRETS["current"] = [r.json()["secret"]]
    upload_id = upload()
    _, _, results = wait_for(about(upload_id))[0]
    assert isinstance(results["current"], dict), f"new secret: {results['current']!r}"
    assert isinstance(results["old"], dict), f"old secret: {results['old']!r}"


@check("every delivery received verified")
def _():
    with LOCK:
        bad = [r for r in RECEIVED if not any(isinstance(v, dict) for v in r[2].values())]
    assert RECEIVED and not bad, f"{len(bad)} of {len(RECEIVED)} did not verify"


server.shutdown()
CHECKS.finish()
