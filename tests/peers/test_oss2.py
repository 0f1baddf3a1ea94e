"""Alibaba's Python SDK `oss2` as a peer of the built-in OSS emulator and the callback flow.

Run by tests/peers/run, which starts the service with the emulator and sets:
  PEERS_API           the service, e.g. http://127.0.0.1:8123
  PEERS_OSS_ENDPOINT  the emulator, e.g. http://127.0.0.1:9123 (an IP: oss2 goes path style)
  PEERS_AK / PEERS_SK the OSS key the service was configured with

Every upload carries a credential's callback; its answer must name the upload, and the upload must
then be `completed` in the store. Forgeries must be refused with OSS's status and error code,
parsed by oss2's own exception mapping. Prints `PASS name` / `FAIL name: why` per check and a last
line `RESULT passed=N failed=M`.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from datetime import datetime, timedelta, timezone

import oss2
import requests
from peer_checks import Checks

API = os.environ["PEERS_API"].rstrip("/")
ENDPOINT = os.environ["PEERS_OSS_ENDPOINT"].rstrip("/")
AK = os.environ.get("PEERS_AK", "LTAI-local-development")
SK = os.environ.get("PEERS_SK", "dev-only-oss-access-key-secret")
REGION = "cn-hangzhou"

CHECKS = Checks("oss2")
check = CHECKS.check


def png(extra=b""):
    """A 3x2 PNG header (all the emulator reads), then filler."""
    return (
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"
        + (3).to_bytes(4, "big")
        + (2).to_bytes(4, "big")
        + b"\x08\x06\0\0\0\x12\x34\x56\x78"
        + b"peer upload "
        + extra
    )


# ---------------------------------------------------------------- the service's side


class User:
    def __init__(self):
        self.name = "oss2-" + uuid.uuid4().hex[:12]
        body = {"username": self.name, "password": "correct horse battery"}
        r = requests.post(f"{API}/v1/auth/register", json=body, timeout=10)
        assert r.status_code in (200, 201), r.text
        r = requests.post(f"{API}/v1/auth/token", json=body, timeout=10)
        assert r.status_code == 200, r.text
        self.auth = {"Authorization": "Bearer " + r.json()["access_token"]}

    def credential(self, profile="avatar", filename="me.png", content_type="image/png", size=None, vars=None):
        body = {"profile": profile, "filename": filename, "content_type": content_type, "size": size}
        if vars:
            body["vars"] = vars
        r = requests.post(f"{API}/v1/uploads", json=body, headers=self.auth, timeout=10)
        assert r.status_code == 201, f"{r.status_code} {r.text}"
        return r.json()

    def record(self, upload_id):
        r = requests.get(f"{API}/v1/me/uploads/{upload_id}", headers=self.auth, timeout=10)
        assert r.status_code == 200, f"record {upload_id}: {r.status_code} {r.text}"
        return r.json()


USER = User()


def callback_headers(cred):
    h = {"x-oss-callback": cred["callback"]}
    if cred.get("callback_var"):
        h["x-oss-callback-var"] = cred["callback_var"]
    return h


def callback_params(cred):
    p = {"callback": cred["callback"]}
    if cred.get("callback_var"):
        p["callback-var"] = cred["callback_var"]
    return p


def assert_landed(cred, answer_bytes, data, vars=None):
    """The callback's answer (relayed by the emulator) and the stored record both show the upload."""
    answer = json.loads(answer_bytes)
    assert answer["upload_id"] == cred["upload_id"], answer
    assert answer["status"] == "completed", answer
    assert answer["key"] == cred["key"] and answer["bucket"] == cred["bucket"], answer
    assert answer["size"] == len(data), answer
    rec = USER.record(cred["upload_id"])
    assert rec["status"] == "completed", rec
    assert rec["source"] == "callback", rec
    assert rec["size"] == len(data), rec
    assert rec["etag"].strip('"').upper() == hashlib.md5(data).hexdigest().upper(), rec
    if cred["content_type"].startswith("image/"):
        assert (rec["image_width"], rec["image_height"]) == (3, 2), rec
    for k, v in (vars or {}).items():
        assert rec["vars"].get(k) == v, (k, rec["vars"])
    return rec


def bucket_v1(cred, ak=AK, sk=SK):
    return oss2.Bucket(oss2.Auth(ak, sk), ENDPOINT, cred["bucket"])


def bucket_v4(cred, ak=AK, sk=SK):
    return oss2.Bucket(oss2.ProviderAuthV4(oss2.StaticCredentialsProvider(ak, sk)), ENDPOINT, cred["bucket"], region=REGION)


def expect_oss_error(fn, status, code):
    """Runs fn, which must raise oss2's ServerError with this status and code."""
    try:
        fn()
    except oss2.exceptions.ServerError as e:
        assert (e.status, e.code) == (status, code), f"got {e.status} {e.code}: {e.message}"
        assert e.request_id, "no RequestId"
        return e
    raise AssertionError(f"accepted; expected {status} {code}")


class _Resp:
    """A requests response as oss2.exceptions.make_exception reads one."""

    def __init__(self, r):
        self.status, self.headers, self._body = r.status_code, r.headers, r.content

    def read(self, n=None):
        return self._body


def raise_for_oss(r):
    if r.status_code // 100 != 2:
        raise oss2.exceptions.make_exception(_Resp(r))
    return r


def raise_or(r):
    raise_for_oss(r)
    return r.status_code


def post_form(cred, fields, data, content_type=None):
    """PostObject (not in oss2): the fields in order, the file last."""
    files = [(k, (None, v)) for k, v in fields]
    files.append(("file", ("upload.bin", data, content_type or cred["content_type"])))
    return requests.post(cred["form"]["action"], files=files, timeout=20)


def form_fields(cred):
    return [(f["name"], f["value"]) for f in cred["form"]["fields"]]


def replace(fields, name, value):
    return [(k, value if k == name else v) for k, v in fields]


def v4_signing_key(secret, day, region):
    k = hmac.new(("aliyun_v4" + secret).encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, "oss", "aliyun_v4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def resign_policy(cred, fields, mutate):
    """Decodes the credential's policy, lets `mutate` change it, and signs it again with the real
    key (V1 or V4, as the form is), so only the change can be what the emulator refuses."""
    d = dict(fields)
    policy = json.loads(base64.b64decode(d["policy"]))
    mutate(policy)
    b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    fields = replace(fields, "policy", b64)
    if "Signature" in d:
        sig = base64.b64encode(hmac.new(SK.encode(), b64.encode(), hashlib.sha1).digest()).decode()
        return replace(fields, "Signature", sig)
    day = d["x-oss-date"][:8]
    sig = hmac.new(v4_signing_key(SK, day, REGION), b64.encode(), hashlib.sha256).hexdigest()
    return replace(fields, "x-oss-signature", sig)


# ---------------------------------------------------------------- uploads that must land

VARS = {"caption": "At the beach, été ☀ & more", "conversation_id": "c-42"}


@check("presigned V1 URL (sign_url with callback params), put_object_with_url")
def _():
    data = png(b"v1 presigned")
    cred = USER.credential("chat-image", size=len(data), vars=VARS)
    bucket = bucket_v1(cred)
    ct = {"Content-Type": cred["content_type"]}
    url = bucket.sign_url("PUT", cred["key"], 600, headers=ct, params=callback_params(cred))
    assert url.startswith(ENDPOINT + "/" + cred["bucket"] + "/"), url
    result = bucket.put_object_with_url(url, data, headers=ct)  # oss2 checks the CRC-64 it gets back
    assert result.status == 200, result.status
    assert result.etag == hashlib.md5(data).hexdigest().upper(), result.etag
    assert_landed(cred, result.resp.read(), data, VARS)


@check("presigned V4 URL (ProviderAuthV4 sign_url with callback params), requests.put")
def _():
    data = png(b"v4 presigned")
    cred = USER.credential("chat-image", size=len(data), vars=VARS)
    bucket = bucket_v4(cred)
    ct = {"Content-Type": cred["content_type"]}
    url = bucket.sign_url("PUT", cred["key"], 600, headers=ct, params=callback_params(cred), slash_safe=True)
    assert "x-oss-signature-version=OSS4-HMAC-SHA256" in url, url
    r = raise_for_oss(requests.put(url, data=data, headers=ct, timeout=20))
    assert r.status_code == 200, r.status_code
    assert_landed(cred, r.content, data)


@check("header-signed V1 put_object with x-oss-callback headers")
def _():
    data = png(b"v1 header")
    cred = USER.credential("chat-image", size=len(data), vars=VARS)
    headers = {"Content-Type": cred["content_type"], **callback_headers(cred)}
    result = bucket_v1(cred).put_object(cred["key"], data, headers=headers)
    assert result.status == 200, result.status
    assert_landed(cred, result.resp.read(), data)


@check("header-signed V4 put_object (ProviderAuthV4) with x-oss-callback headers")
def _():
    data = png(b"v4 header")
    cred = USER.credential("avatar", size=len(data))
    headers = {"Content-Type": cred["content_type"], **callback_headers(cred)}
    result = bucket_v4(cred).put_object(cred["key"], data, headers=headers)
    assert result.status == 200, result.status
    assert_landed(cred, result.resp.read(), data)


@check("header-signed V1 put_object of a V1 profile (form-encoded callback body)")
def _():
    data = b"\0\0\0\x18ftypmp42" + b"not a real video" * 8
    cred = USER.credential("video", filename="clip.mp4", content_type="video/mp4", size=len(data))
    headers = {"Content-Type": cred["content_type"], **callback_headers(cred)}
    result = bucket_v1(cred).put_object(cred["key"], data, headers=headers)
    assert_landed(cred, result.resp.read(), data)


@check("the credential's own presigned PUT, sent with put_object_with_url")
def _():
    data = png(b"issued put")
    cred = USER.credential("avatar", size=len(data))
    result = bucket_v1(cred).put_object_with_url(cred["put"]["url"], data, headers=cred["put"]["headers"])
    assert_landed(cred, result.resp.read(), data)


@check("the credential's PostObject form (V4) lands; head/get/delete with V1 and V4 header signatures")
def _():
    data = png(b"form")
    cred = USER.credential("avatar", size=len(data))
    r = raise_for_oss(post_form(cred, form_fields(cred), data))
    assert r.status_code == 200, r.status_code
    assert_landed(cred, r.content, data)
    for bucket in (bucket_v1(cred), bucket_v4(cred)):
        head = bucket.head_object(cred["key"])
        assert head.content_length == len(data) and head.content_type == "image/png", vars(head)
        assert head.etag == hashlib.md5(data).hexdigest().upper(), head.etag
        assert bucket.get_object(cred["key"]).read() == data  # CRC-64 checked by oss2
    bucket_v4(cred).delete_object(cred["key"])
    expect_oss_error(lambda: bucket_v1(cred).get_object(cred["key"]), 404, "NoSuchKey")


@check("the credential's PostObject form (V1 profile) lands")
def _():
    data = b"\0\0\0\x18ftypmp42" + b"form video" * 8
    cred = USER.credential("video", filename="clip.mp4", content_type="video/mp4", size=len(data))
    assert dict(form_fields(cred)).get("OSSAccessKeyId") == AK
    r = raise_for_oss(post_form(cred, form_fields(cred), data))
    assert_landed(cred, r.content, data)


# ---------------------------------------------------------------- refusals with OSS's codes


@check("tampered presigned V1 signature: 403 SignatureDoesNotMatch")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    bucket = bucket_v1(cred)
    ct = {"Content-Type": cred["content_type"]}
    url = bucket.sign_url("PUT", cred["key"], 600, headers=ct, params=callback_params(cred))
    forged = url.replace("Signature=", "Signature=A", 1)
    expect_oss_error(lambda: bucket.put_object_with_url(forged, data, headers=ct), 403, "SignatureDoesNotMatch")
    assert USER.record(cred["upload_id"])["status"] == "pending"


@check("tampered presigned V4 signature: 403 SignatureDoesNotMatch")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    bucket = bucket_v4(cred)
    ct = {"Content-Type": cred["content_type"]}
    url = bucket.sign_url("PUT", cred["key"], 600, headers=ct, params=callback_params(cred))
    sig = url.split("x-oss-signature=")[1][:64]
    forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    expect_oss_error(lambda: bucket.put_object_with_url(forged, data, headers=ct), 403, "SignatureDoesNotMatch")


@check("presigned PUT with a different Content-Type than signed: 403 SignatureDoesNotMatch")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    bucket = bucket_v1(cred)
    url = bucket.sign_url("PUT", cred["key"], 600, headers={"Content-Type": "image/png"})
    expect_oss_error(
        lambda: bucket.put_object_with_url(url, data, headers={"Content-Type": "text/html"}), 403, "SignatureDoesNotMatch"
    )


@check("swapped callback in the credential's presigned PUT URL: 403 SignatureDoesNotMatch")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    other = USER.credential(size=len(data))
    url = cred["put"]["url"]
    enc = requests.utils.quote(cred["callback"], safe="")
    assert enc in url, "the callback is not in the URL"
    forged = url.replace(enc, requests.utils.quote(other["callback"], safe=""))
    expect_oss_error(
        lambda: bucket_v1(cred).put_object_with_url(forged, data, headers=cred["put"]["headers"]),
        403,
        "SignatureDoesNotMatch",
    )


@check("wrong access key id (V1 header, V4 header, presigned): 403 InvalidAccessKeyId")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    headers = {"Content-Type": cred["content_type"], **callback_headers(cred)}
    for bucket in (bucket_v1(cred, ak="LTAI-not-our-key"), bucket_v4(cred, ak="LTAI-not-our-key")):
        expect_oss_error(lambda: bucket.put_object(cred["key"], data, headers=headers), 403, "InvalidAccessKeyId")
    bucket = bucket_v1(cred, ak="LTAI-not-our-key")
    url = bucket.sign_url("PUT", cred["key"], 600, headers={"Content-Type": cred["content_type"]})
    expect_oss_error(
        lambda: bucket.put_object_with_url(url, data, headers={"Content-Type": cred["content_type"]}),
        403,
        "InvalidAccessKeyId",
    )


@check("wrong secret (V1 and V4 header signatures): 403 SignatureDoesNotMatch")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    headers = {"Content-Type": cred["content_type"]}
    for bucket in (bucket_v1(cred, sk="not-the-secret"), bucket_v4(cred, sk="not-the-secret")):
        expect_oss_error(lambda: bucket.put_object(cred["key"], data, headers=headers), 403, "SignatureDoesNotMatch")


@check("expired presigned URL (V1): 403 AccessDenied")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    bucket = bucket_v1(cred)
    ct = {"Content-Type": cred["content_type"]}
    url = bucket.sign_url("PUT", cred["key"], -60, headers=ct)
    e = expect_oss_error(lambda: bucket.put_object_with_url(url, data, headers=ct), 403, "AccessDenied")
    assert "expired" in e.message.lower(), e.message


@check("expired PostObject policy (V1 and V4 forms, re-signed with the real key): 403 AccessDenied")
def _():
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def expire(policy):
        policy["expiration"] = past

    for profile, filename, ct in (("avatar", "me.png", "image/png"), ("video", "clip.mp4", "video/mp4")):
        data = png()
        cred = USER.credential(profile, filename=filename, content_type=ct, size=len(data))
        # The same change with the original signature is a signature mismatch...
        fields = form_fields(cred)
        sig_field = "Signature" if dict(fields).get("Signature") else "x-oss-signature"
        assert raise_or(post_form(cred, resign_policy(cred, fields, lambda p: None), data)) == 200
        cred = USER.credential(profile, filename=filename, content_type=ct, size=len(data))
        fields = form_fields(cred)
        forged = resign_policy(cred, fields, expire)
        unsigned = replace(forged, sig_field, dict(fields)[sig_field])
        expect_oss_error(lambda: raise_for_oss(post_form(cred, unsigned, data)), 403, "SignatureDoesNotMatch")
        # ...and signed properly, the policy's expiry is what refuses it.
        e = expect_oss_error(lambda: raise_for_oss(post_form(cred, forged, data)), 403, "AccessDenied")
        assert "expired" in e.message.lower(), e.message


@check("tampered PostObject signature (V4 and V1 forms): 403 SignatureDoesNotMatch")
def _():
    data = png()
    for profile, filename, ct, field in (
        ("avatar", "me.png", "image/png", "x-oss-signature"),
        ("video", "clip.mp4", "video/mp4", "Signature"),
    ):
        cred = USER.credential(profile, filename=filename, content_type=ct, size=len(data))
        fields = form_fields(cred)
        sig = dict(fields)[field]
        forged = replace(fields, field, ("0" if sig[0] != "0" else "1") + sig[1:])
        expect_oss_error(lambda: raise_for_oss(post_form(cred, forged, data)), 403, "SignatureDoesNotMatch")


@check("PostObject from the wrong access key id: 403 InvalidAccessKeyId")
def _():
    data = png()
    cred = USER.credential("video", filename="clip.mp4", content_type="video/mp4", size=len(data))
    forged = replace(form_fields(cred), "OSSAccessKeyId", "LTAI-not-our-key")
    expect_oss_error(lambda: raise_for_oss(post_form(cred, forged, data)), 403, "InvalidAccessKeyId")


@check("oversize file against the credential's PostObject policy: 400 EntityTooLarge")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    big = data + b"x"
    expect_oss_error(lambda: raise_for_oss(post_form(cred, form_fields(cred), big)), 400, "EntityTooLarge")
    assert USER.record(cred["upload_id"])["status"] == "pending"


@check("swapped callback form field (another credential's callback): 403 AccessDenied")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    other = USER.credential(size=len(data))
    forged = replace(form_fields(cred), "callback", other["callback"])
    e = expect_oss_error(lambda: raise_for_oss(post_form(cred, forged, data)), 403, "AccessDenied")
    assert "policy" in e.message.lower(), e.message
    assert USER.record(cred["upload_id"])["status"] == "pending"
    assert USER.record(other["upload_id"])["status"] == "pending"


@check("swapped key in the PostObject form: 403 AccessDenied")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    forged = replace(form_fields(cred), "key", cred["key"] + ".evil")
    expect_oss_error(lambda: raise_for_oss(post_form(cred, forged, data)), 403, "AccessDenied")


@check("header-signed put of another key with a credential's callback: 203 CallbackFailed, nothing recorded")
def _():
    data = png()
    cred = USER.credential(size=len(data))
    headers = {"Content-Type": cred["content_type"], **callback_headers(cred)}
    try:
        result = bucket_v1(cred).put_object(cred["key"] + ".elsewhere", data, headers=headers)
        status, code = result.status, result.headers.get("x-oss-ec", "")
    except oss2.exceptions.ServerError as e:  # some oss2 versions raise on 203
        status, code = e.status, e.code
    assert status == 203, status
    assert code == "CallbackFailed" or "CallbackFailed" in code, code
    assert USER.record(cred["upload_id"])["status"] == "pending"


# ---------------------------------------------------------------- STS credentials and multipart


def sts_credentials():
    """GET /v1/sts/credentials: STS credentials for every key under the user's prefix."""
    r = requests.get(f"{API}/v1/sts/credentials", headers=USER.auth, timeout=10)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    creds = r.json()
    assert creds["StatusCode"] == 200 and creds["AccessKeyId"].startswith("STS."), creds
    return creds


def sts_bucket(creds, bucket, v4=False):
    ak, sk, token = creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]
    if v4:
        provider = oss2.StaticCredentialsProvider(ak, sk, token)
        return oss2.Bucket(oss2.ProviderAuthV4(provider), ENDPOINT, bucket, region=REGION)
    return oss2.Bucket(oss2.StsAuth(ak, sk, token), ENDPOINT, bucket)


def big_png(size):
    data = png()
    return data + bytes(i % 251 for i in range(size - len(data)))


def assert_recorded(cred, data, source):
    rec = USER.record(cred["upload_id"])
    assert rec["status"] == "completed", rec
    assert rec["source"] == source, rec
    assert rec["size"] == len(data), rec
    assert rec["etag"].strip('"').endswith("-2"), rec
    return rec


for v4 in (False, True):

    @check(f"STS credentials ({'V4' if v4 else 'V1'} StsAuth): init, upload_part x2, complete with the issued callback headers lands the record")
    def _():
        creds = sts_credentials()
        data = big_png(100 * 1024 + 4321)
        cred = USER.credential(size=len(data))
        assert cred["key"].startswith(creds["prefix"]), (cred["key"], creds["prefix"])
        bucket = sts_bucket(creds, cred["bucket"], v4=v4)
        upload_id = bucket.init_multipart_upload(cred["key"], headers={"Content-Type": cred["content_type"]}).upload_id
        parts = []
        for n, chunk in ((1, data[: 100 * 1024]), (2, data[100 * 1024 :])):
            r = bucket.upload_part(cred["key"], upload_id, n, chunk)
            parts.append(oss2.models.PartInfo(n, r.etag, size=len(chunk), part_crc=r.crc))
        listed = bucket.list_parts(cred["key"], upload_id)
        assert [p.part_number for p in listed.parts] == [1, 2], listed.parts
        result = bucket.complete_multipart_upload(cred["key"], upload_id, parts, headers=callback_headers(cred))
        answer = json.loads(result.resp.read())
        assert answer["upload_id"] == cred["upload_id"] and answer["size"] == len(data), answer
        assert_recorded(cred, data, "callback")
        # oss2 checks the whole object's CRC-64 against the parts' when it reads it back.
        assert bucket_v1(cred).get_object(cred["key"]).read() == data


@check("STS credentials: oss2 resumable_upload (no callback on Complete), then the app's confirmation")
def _():
    import tempfile

    creds = sts_credentials()
    data = big_png(3 * 100 * 1024 + 17)
    cred = USER.credential(size=len(data))
    bucket = sts_bucket(creds, cred["bucket"])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "upload.png")
        with open(path, "wb") as f:
            f.write(data)
        oss2.resumable_upload(
            bucket,
            cred["key"],
            path,
            store=oss2.ResumableStore(root=tmp),
            multipart_threshold=100 * 1024,
            part_size=100 * 1024,
            num_threads=2,
            headers={"Content-Type": cred["content_type"]},
        )
    assert USER.record(cred["upload_id"])["status"] == "pending"
    r = requests.post(f"{API}/v1/uploads/{cred['upload_id']}/complete", headers=USER.auth, timeout=10)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.json()["upload_id"] == cred["upload_id"], r.text
    rec = USER.record(cred["upload_id"])
    assert rec["status"] == "completed" and rec["size"] == len(data), rec
    assert rec["etag"].strip('"').endswith("-4"), rec


@check("STS credentials outside the user's prefix (put_object, init_multipart_upload): 403 AccessDenied")
def _():
    creds = sts_credentials()
    bucket = sts_bucket(creds, "demo-bucket")
    other = "avatars/someone-else/" + uuid.uuid4().hex + ".png"
    expect_oss_error(lambda: bucket.put_object(other, png()), 403, "AccessDenied")
    expect_oss_error(lambda: bucket.init_multipart_upload(other), 403, "AccessDenied")
    expect_oss_error(lambda: bucket.get_object(creds["prefix"] + "x.png"), 403, "AccessDenied")
    forged = dict(creds, SecurityToken=creds["SecurityToken"] + "x")
    expect_oss_error(lambda: sts_bucket(forged, "demo-bucket").put_object(creds["prefix"] + "x.png", png()), 403, "InvalidAccessKeyId")


CHECKS.finish()
