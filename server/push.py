"""Web Push: VAPID keys, browser subscriptions, and the worker that drains the delivery queue.

Sending a notice only inserts rows into `push_deliveries` (see notices.py). The worker, started
once by run.py beside the web server, claims due rows, encrypts each payload with pywebpush's
`WebPusher.encode` and POSTs it from a thread pool sharing one HTTP session, then records every
attempt. The lessons it follows: docs/field-lessons.md#web-push.
"""

from __future__ import annotations

import base64
import fcntl
import ipaddress
import json
import logging
import os
import queue
import random
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlite_utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user, user_logged_out
from py_vapid import Vapid02
from pywebpush import WebPusher
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family, create_connection

from .db import connect, get_db, write_transaction
from .errors import ApiError, field_error, json_body, raise_if
from .i18n import t
from .notices import remind_overdue
from .retention import anonymise
from .scope import ROLES, require_role
from .timeutil import now_utc, today, utc_text

log = logging.getLogger(__name__)
bp = Blueprint("push", __name__)

PRIVATE_KEY_FILE = "vapid_private.pem"
PUBLIC_KEY_FILE = "vapid_public.txt"   # what the PWA is served; checked against the private key
# docs/field-lessons.md#push-token-lifetime and #push-payload-size:
TOKEN_LIFETIME = 12 * 3600             # JWT exp ≤ 12 h: a server clock running ahead
TOKEN_RENEW_BEFORE = 3600              # sign a new token when the cached one has < 1 h left
MAX_PAYLOAD = 1900                     # plaintext bytes; encrypted ≤ 2 KB
MAX_TTL = 28 * 24 * 3600


# --- VAPID keys ---------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_of(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The applicationServerKey a browser subscribes with: the raw P-256 point, base64url."""
    return b64url(private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def ensure_keys(folder: Path, rotate: bool = False) -> tuple[Path, str]:
    """The VAPID key pair in `folder` (beside the database), made on first use or on rotate.

    The private key is a PEM file (pywebpush/py_vapid read PEM, not raw base64url:
    docs/field-lessons.md#vapid-key-files).
    A lock file keeps two processes starting at once from writing two different pairs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_KEY_FILE, folder / PUBLIC_KEY_FILE
    with open(folder / "vapid.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if rotate or not private_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            for path, data in ((private_path, pem), (public_path, public_key_of(key).encode())):
                temp = path.with_suffix(".new")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(temp, path)
        served = public_path.read_text().strip() if public_path.exists() else ""
    return private_path, served


def derived_public_key(private_path: Path) -> str:
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be an EC P-256 key")
    return public_key_of(key)


def _local_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".invalid", ".test")):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True  # an address is not a contact Apple accepts either
    except ValueError:
        return False


DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$", re.IGNORECASE)


def sub_problem(sub: str | None) -> str | None:
    """Why `sub` would be refused by a push service (Apple: 403 BadJwtToken,
    docs/field-lessons.md#vapid-contact-address), or None.

    Accepted: mailto:someone@real.domain, or an https:// URL of a real host.
    """
    if not sub:
        return "BAODAO_VAPID_SUB is not set"
    if sub != sub.strip():
        return "sub has surrounding spaces"
    lower = sub.lower()
    if lower.startswith("mailto:"):
        address = sub[len("mailto:"):]
        if address.lower().startswith("mailto:"):
            return "sub has mailto: twice"
        local, _, domain = address.rpartition("@")
        if not local or not DOMAIN_RE.match(domain) or any(c in local for c in " :/<>"):
            return "sub is not mailto: with an address on a real domain"
        if _local_host(domain):
            return "sub uses a local domain"
        return None
    if lower.startswith("https://"):
        host = urlsplit(sub).hostname or ""
        if not DOMAIN_RE.match(host) or _local_host(host):
            return "sub is an https URL without a real host"
        return None
    return "sub must start with mailto: or https://"


@dataclass(frozen=True)
class PushConfig:
    """Whether push is on, and why not; the key the PWA subscribes with."""

    enabled: bool
    reason: str | None
    public_key: str | None
    private_key_path: str
    sub: str | None

    def to_json(self) -> dict:
        return {"enabled": self.enabled, "public_key": self.public_key, "reason": self.reason}


def configure(app) -> PushConfig:
    """At start: make or load the keys, check the served key against the private one
    (docs/field-lessons.md#vapid-key-files) and the `sub`
    (docs/field-lessons.md#vapid-contact-address). Push stays off with a reason; the inbox
    works regardless."""
    _, refused = host_patterns(app.config.get("PUSH_ALLOWED_HOSTS"))
    if refused:
        raise RuntimeError(f"BAODAO_PUSH_ALLOWED_HOSTS: {refused} are not host names "
                           "(name, *.name, optionally :port; never an address)")
    if app.config.get("PUSH_TEST_SERVICE_ORIGINS"):
        app.logger.warning("push: BAODAO_PUSH_TEST_SERVICE_ORIGINS is set; it is for a local "
                           "fake push service in tests only")
    private_path, served = ensure_keys(Path(app.config["DATA_DIR"]))
    reason = None
    try:
        derived = derived_public_key(private_path)
    except ValueError as error:
        derived, reason = None, f"bad VAPID private key: {error}"
    if reason is None and derived != served:
        reason = (f"VAPID key mismatch: {PUBLIC_KEY_FILE} does not belong to "
                  f"{PRIVATE_KEY_FILE}; run `python run.py vapid-keys --rotate`")
    sub = app.config.get("VAPID_SUB")
    if reason is None:
        reason = sub_problem(sub)
        if reason and sub:
            reason = f"{reason}: {sub!r}"
    if reason and sub:
        app.logger.error("push disabled: %s", reason)
    config = PushConfig(reason is None, reason, served if reason is None else None,
                        str(private_path), sub)
    app.extensions["baodao_push"] = config
    return config


def push_config(app=None) -> PushConfig:
    return (app or current_app).extensions["baodao_push"]


class VapidSigner:
    """One VAPID token per push service origin, reused until an hour before it expires."""

    def __init__(self, private_key_path: str, sub: str, lifetime: int = TOKEN_LIFETIME):
        self.vapid = Vapid02.from_file(private_key_path)
        self.sub = sub
        self.lifetime = min(lifetime, TOKEN_LIFETIME)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def authorization(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            token = self._tokens.get(audience)
            if token and token[1] - now > TOKEN_RENEW_BEFORE:
                return token[0]
            # Fresh claims each time: the library may change the dict it is given
            # (docs/field-lessons.md#push-token-lifetime).
            exp = int(now) + self.lifetime
            header = self.vapid.sign({"sub": self.sub, "aud": audience, "exp": exp})
            self._tokens[audience] = (header["Authorization"], exp)
            return header["Authorization"]


# --- subscriptions ------------------------------------------------------------------------------

def _check_keys(p256dh: str, auth: str) -> list[dict]:
    """A browser's keys: a 65-byte uncompressed P-256 point and a 16-byte auth secret."""
    errors = []
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError
    except ValueError:
        errors.append({"path": "/keys/p256dh", "message": t("rule_p256dh"),
                       "rule": "key"})
    try:
        if len(b64url_decode(auth)) != 16:
            raise ValueError
    except ValueError:
        errors.append({"path": "/keys/auth", "message": t("rule_auth_secret"),
                       "rule": "key"})
    return errors


# --- where a push may go (docs/push.md#where-pushes-may-go) --------------------------------------

# The push services browsers subscribe with. A deployer adds others with PUSH_ALLOWED_HOSTS;
# "*.x" is any name below x (not x itself). Names only: an address is never a push service.
PUSH_SERVICE_HOSTS = ("fcm.googleapis.com", "android.googleapis.com",
                      "updates.push.services.mozilla.com", "*.push.services.mozilla.com",
                      "web.push.apple.com", "*.push.apple.com", "*.notify.windows.com")
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


class InternalAddress(ValueError):
    """A push endpoint's name resolved to an address inside a network, not on the internet."""


def internal_address(text: str) -> bool:
    """Loopback, private, link-local, multicast, reserved or otherwise not global, also when
    an IPv6 form carries such an IPv4 address (mapped, 6to4, Teredo, NAT64)."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour,
                    address.teredo[1] if address.teredo else None,
                    ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64
                    else None]
        if any(v4 is not None and internal_address(str(v4)) for v4 in embedded):
            return True
        if address.is_site_local:
            return True
    return (not address.is_global or address.is_private or address.is_loopback
            or address.is_link_local or address.is_multicast or address.is_reserved
            or address.is_unspecified)


def _is_address(host: str) -> bool:
    """An IP address in any spelling a resolver takes: 127.0.0.1, [::1], 2130706433, 0x7f.1,
    0177.1 (inet_aton's forms), or a name whose last label is a number (the URL standard
    reads those as IPv4)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        pass
    return bool(NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))


def host_patterns(value: object) -> tuple[list[str], list[str]]:
    """PUSH_ALLOWED_HOSTS (a list, or one string separated by commas or spaces) as
    (valid patterns, refused entries): `name`, `*.name`, either with `:port`."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    valid, refused = [], []
    for entry in value or ():
        pattern = str(entry).strip().lower()
        name, _, port = pattern.partition(":")
        bare = name[2:] if name.startswith("*.") else name
        ok = DOMAIN_RE.match(bare) and not _is_address(bare) and not _local_host(bare) \
            and (not port or (port.isdigit() and 0 < int(port) < 65536))
        (valid if ok else refused).append(pattern)
    return valid, refused


def _test_origins(value: object) -> frozenset[tuple[str, str, int]]:
    """PUSH_TEST_SERVICE_ORIGINS as (scheme, host, port): loopback origins only."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    origins = set()
    for origin in value or ():
        try:
            parts = urlsplit(str(origin).strip().lower())
            if parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_NAMES \
                    and parts.port:
                origins.add((parts.scheme, parts.hostname, parts.port))
        except ValueError:
            continue
    return frozenset(origins)


def _matches(host: str, port: int | None, pattern: str) -> bool:
    name, _, wanted = pattern.partition(":")
    if (port or 443) != (int(wanted) if wanted else 443):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


@dataclass(frozen=True)
class EndpointPolicy:
    """Which endpoints the server pushes to: https on a push service's name, never an address.

    `test_origins` exempts the loopback origins of a local fake push service
    (PUSH_TEST_SERVICE_ORIGINS: tests and bench/push.py only)."""

    hosts: tuple[str, ...] = PUSH_SERVICE_HOSTS
    test_origins: frozenset[tuple[str, str, int]] = frozenset()

    @classmethod
    def of(cls, config) -> EndpointPolicy:
        valid, _ = host_patterns(config.get("PUSH_ALLOWED_HOSTS"))
        return cls(PUSH_SERVICE_HOSTS + tuple(valid),
                   _test_origins(config.get("PUSH_TEST_SERVICE_ORIGINS")))

    @property
    def exempt(self) -> frozenset[tuple[str, int]]:
        """The test origins as a connection sees them: (host, port)."""
        return frozenset((host, port) for _, host, port in self.test_origins)

    def problem(self, endpoint: str) -> str | None:
        """The rule `endpoint` breaks (https, push_address, push_service), or None."""
        if not endpoint.isascii() or not endpoint.isprintable() or " " in endpoint \
                or "\\" in endpoint:
            return "https"
        try:
            parts = urlsplit(endpoint)
            host, port = parts.hostname, parts.port
            # requests parses with urllib3: both must read the same host, or the check is moot
            theirs = (parse_url(endpoint).host or "").strip("[]").lower()
        except (ValueError, LocationParseError):  # "Invalid IPv6 URL", a bad port
            return "https"
        if not host or theirs != host:
            return "https"
        if parts.username is not None or "@" in parts.netloc:
            return "push_service"           # user:pass@ hides the host from a reader
        if (parts.scheme, host, port) in self.test_origins:
            return None
        if parts.scheme != "https":
            return "https"
        if _is_address(host):
            return "push_address"
        if not DOMAIN_RE.match(host) or not any(_matches(host, port, p) for p in self.hosts):
            return "push_service"
        return None


def public_addresses(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for `host`, or InternalAddress if any of them is internal."""
    answers = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    for *_, sockaddr in answers:
        if internal_address(sockaddr[0]):
            raise InternalAddress(f"{host} resolves to {sockaddr[0]}")
    return answers


class _PublicOnly:
    """A connection that resolves its host itself, checks every address and connects to one
    of those: a name that resolves inside (or changes its answer after a check, DNS
    rebinding) is never connected to. TLS still checks the certificate against the name."""

    exempt: frozenset[tuple[str, int]] = frozenset()

    def _new_conn(self):
        host = self._dns_host.strip("[]")
        if self.proxy is not None or (host, self.port) in self.exempt:
            return super()._new_conn()  # a deployer's proxy connects, and resolves, for us
        try:
            answers = public_addresses(host, self.port)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        error = None
        for *_, sockaddr in answers:
            try:
                return create_connection((sockaddr[0], self.port), self.timeout,
                                         source_address=self.source_address,
                                         socket_options=self.socket_options)
            except OSError as e:
                error = e
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class PublicOnlyAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter over connections that reach public addresses only."""

    def __init__(self, exempt: frozenset[tuple[str, int]] = frozenset(), **kwargs):
        self.exempt = exempt
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        http = type("Http", (_PublicHTTPConnection,), {"exempt": self.exempt})
        https = type("Https", (_PublicHTTPSConnection,), {"exempt": self.exempt})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("HttpPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("HttpsPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}


def public_only_session(threads: int, exempt: frozenset[tuple[str, int]] = frozenset()
                        ) -> requests.Session:
    session = requests.Session()
    adapter = PublicOnlyAdapter(exempt, pool_connections=8, pool_maxsize=threads)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def save_subscription(db: sqlite_utils.Database, user_id: int, body: dict,
                      policy: EndpointPolicy = EndpointPolicy()) -> tuple[bool, dict]:
    """Register (or update, by endpoint) a subscription; return (created, subscription)."""
    rule = policy.problem(body["endpoint"])
    if rule:
        raise_if([field_error("/endpoint", f"rule_{rule}", rule)])
    raise_if(_check_keys(body["keys"]["p256dh"], body["keys"]["auth"]))
    stamp = utc_text(now_utc())
    with write_transaction(db):
        existing = db.execute("SELECT id FROM push_subscriptions WHERE endpoint = ?",
                              [body["endpoint"]]).fetchone()
        db.execute(
            """INSERT INTO push_subscriptions (user_id, device_id, endpoint, p256dh, auth,
                   created_at, updated_at) VALUES (?,?,?,?,?,?,?)
               ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,
                   device_id = excluded.device_id, p256dh = excluded.p256dh,
                   auth = excluded.auth, updated_at = excluded.updated_at""",
            [user_id, body["device_id"], body["endpoint"], body["keys"]["p256dh"],
             body["keys"]["auth"], stamp, stamp])
        # A browser holds one subscription per app: this device's older endpoints are dead.
        db.execute("DELETE FROM push_subscriptions WHERE user_id = ? AND device_id = ? "
                   "AND endpoint != ?", [user_id, body["device_id"], body["endpoint"]])
        row = next(db.query("SELECT id, device_id, endpoint, created_at, updated_at "
                            "FROM push_subscriptions WHERE endpoint = ?", [body["endpoint"]]))
    return existing is None, row


def delete_subscriptions(db: sqlite_utils.Database, user_id: int, endpoint: str | None = None,
                         device_id: str | None = None) -> int:
    """Remove the user's subscription by endpoint, or those of one device."""
    if endpoint:
        sql, params = "endpoint = ?", [endpoint]
    elif device_id:
        sql, params = "device_id = ?", [device_id]
    else:
        return 0
    with write_transaction(db):
        return db.execute(f"DELETE FROM push_subscriptions WHERE user_id = ? AND {sql}",
                          [user_id, *params]).rowcount


@user_logged_out.connect
def _forget_device_on_logout(_app, user=None, **_extra) -> None:
    """Logging out on a phone stops its pushes, when the request names the device."""
    device_id = request.args.get("device_id") or request.headers.get("X-Device-Id")
    if not device_id:
        body = request.get_json(silent=True)
        device_id = body.get("device_id") if isinstance(body, dict) else None
    if user is not None and getattr(user, "id", None) and isinstance(device_id, str):
        delete_subscriptions(get_db(), user.id, device_id=device_id)


# --- routes -------------------------------------------------------------------------------------

@bp.get("/api/push/key")
def push_key():
    """The applicationServerKey, or why push is off (the inbox works either way)."""
    return jsonify(push_config().to_json())


@bp.post("/api/push/subscriptions")
@require_role(*ROLES)  # the enterprise contact too
def subscribe():
    body = json_body("push_subscription")
    config = push_config()
    if not config.enabled:
        raise ApiError(409, "push_disabled", extra={"reason": config.reason})
    if body.get("key") and body["key"] != config.public_key:
        # Made with a rotated key: the push service would refuse our tokens. Re-subscribe.
        raise ApiError(409, "push_key_changed", extra={"public_key": config.public_key})
    created, row = save_subscription(get_db(), current_user.id, body,
                                     EndpointPolicy.of(current_app.config))
    return jsonify({"subscription": row}), 201 if created else 200


@bp.delete("/api/push/subscriptions")
@require_role(*ROLES)  # the enterprise contact too
def unsubscribe():
    """?endpoint= (or a JSON body with endpoint), or ?device_id= for all of one device."""
    body = request.get_json(silent=True) if request.content_length else None
    body = body if isinstance(body, dict) else {}
    endpoint = request.args.get("endpoint") or body.get("endpoint")
    device_id = request.args.get("device_id") or body.get("device_id")
    deleted = delete_subscriptions(get_db(), current_user.id, endpoint, device_id)
    return jsonify({"deleted": deleted})


# --- delivery -----------------------------------------------------------------------------------

def payload_of(notice: dict) -> bytes:
    """The push message: id, title, a short body and the link; the app fetches the rest."""
    data = {"id": notice["id"], "title": notice["title"][:80], "body": notice["body"][:200],
            "link": notice["link"] or "/", "urgency": notice["urgency"]}
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    while len(encoded) > MAX_PAYLOAD and data["body"]:
        data["body"] = data["body"][:len(data["body"]) // 2]
        encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return encoded


@dataclass
class Job:
    delivery_id: int
    notice_id: str
    user_id: int
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    attempts: int
    payload: bytes
    ttl: int
    urgency: str


@dataclass
class Outcome:
    job: Job
    state: str                 # sent | retry | gone | failed | refused (not a push service)
    status: int | None
    error: str
    retry_after: float | None
    duration_ms: float


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def send_one(session: requests.Session, signer: VapidSigner, job: Job, timeout: float = 10,
             policy: EndpointPolicy = EndpointPolicy()) -> Outcome:
    """Encrypt (aes128gcm) and POST one message; classify the push service's answer.

    The endpoint is checked again first: a row stored before a rule, or under another
    PUSH_ALLOWED_HOSTS, is refused, not sent (docs/push.md#where-pushes-may-go)."""
    began = time.perf_counter()
    status = retry = None
    rule = policy.problem(job.endpoint)
    if rule:
        return Outcome(job, "refused", None, f"refused: {rule}", None, 0)
    try:
        subscription = {"endpoint": job.endpoint, "keys": {"p256dh": job.p256dh, "auth": job.auth}}
        body = WebPusher(subscription).encode(job.payload, content_encoding="aes128gcm")["body"]
        response = session.post(job.endpoint, data=body, timeout=timeout, headers={
            "Authorization": signer.authorization(job.endpoint),
            "Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream",
            "TTL": str(job.ttl), "Urgency": job.urgency}, allow_redirects=False)
        status = response.status_code
        error = "" if status < 300 else response.text[:200]
        response.close()
        if 200 <= status < 300:
            state = "sent"
        elif 300 <= status < 400:
            # A push service never redirects; following one would let an endpoint lead the
            # worker anywhere. Sending again would meet the same answer.
            state = "failed"
            error = f"redirect not followed: {response.headers.get('Location')}"[:200]
        elif status in (404, 410):
            state = "gone"       # the subscription is dead (docs/field-lessons.md#dead-subscriptions)
        elif status == 429 or status >= 500:
            state = "retry"
            retry = retry_after_seconds(response.headers.get("Retry-After"))
        else:
            state = "failed"     # 400/401/403/413: sending again would not help
    except InternalAddress as e:
        state, error = "refused", f"refused: push_address ({e})"[:200]
    except requests.RequestException as e:
        state, error = "retry", f"{type(e).__name__}: {e}"[:200]
    except Exception as e:  # bad keys and the like: never let one message kill the worker
        state, error = "failed", f"{type(e).__name__}: {e}"[:200]
    return Outcome(job, state, status, error, retry, (time.perf_counter() - began) * 1000)


class DeliveryWorker:
    """Drains push_deliveries with a pool of senders; one thread does all database writes.

    step() claims due rows (state queued → sending), hands them to the pool, and writes the
    outcomes back in batches (one transaction each). A 429 or 5xx reschedules only that row,
    so a slow or throttling service never stalls the rest of the queue.
    """

    def __init__(self, app, threads: int | None = None, session: requests.Session | None = None):
        self.app = app
        config = app.config
        self.push = push_config(app)
        self.threads = threads or config["PUSH_THREADS"]
        self.max_attempts = config["PUSH_MAX_ATTEMPTS"]
        self.retry_base = config["PUSH_RETRY_BASE_SECONDS"]
        self.retry_max = config["PUSH_RETRY_MAX_SECONDS"]
        self.poll = config["PUSH_POLL_SECONDS"]
        self.check_every = config["PUSH_CHECK_SECONDS"]
        self.signer = VapidSigner(self.push.private_key_path, self.push.sub or "") \
            if self.push.enabled else None
        self.policy = EndpointPolicy.of(config)
        self.session = session or public_only_session(self.threads, self.policy.exempt)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="push")
        self.outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self.in_flight = 0
        self.stopping = threading.Event()
        self.db = None
        self._last_check = 0.0
        self._beat: threading.Thread | None = None

    # database side (the worker's own thread only) ------------------------------------------

    def open(self) -> sqlite_utils.Database:
        if self.db is None:
            self.db = connect(self.app.config["DATABASE"])
            # Delivery states are not records a phone was promised are durable: NORMAL halves
            # the fsyncs this process adds beside the web server's.
            self.db.execute("PRAGMA synchronous = NORMAL")
            # Rows a previous worker claimed but never finished go back to the queue.
            with write_transaction(self.db):
                self.db.execute("UPDATE push_deliveries SET state = 'queued' "
                                "WHERE state = 'sending'")
        return self.db

    def claim(self, limit: int) -> list[Job]:
        db, now = self.open(), time.time()
        stamp = utc_text(now_utc())
        with write_transaction(db):
            rows = list(db.query(
                """SELECT d.id, d.notice_id, d.user_id, d.attempts, d.subscription_id,
                          s.endpoint, s.p256dh, s.auth, n.title, n.body, n.link, n.urgency,
                          n.expires_at
                   FROM push_deliveries d JOIN notices n ON n.id = d.notice_id
                   LEFT JOIN push_subscriptions s ON s.id = d.subscription_id
                   WHERE d.state = 'queued' AND d.next_attempt_at <= ?
                   ORDER BY d.next_attempt_at, d.id LIMIT ?""", [now, limit]))
            jobs, dead, expired = [], [], []
            payloads: dict[str, bytes] = {}
            for row in rows:
                ttl = int(min(MAX_TTL, _epoch(row["expires_at"]) - now))
                if row["endpoint"] is None:     # unsubscribed since the notice was sent
                    dead.append(row["id"])
                elif ttl <= 0:
                    expired.append(row["id"])
                else:
                    if row["notice_id"] not in payloads:
                        payloads[row["notice_id"]] = payload_of({**row, "id": row["notice_id"]})
                    jobs.append(Job(row["id"], row["notice_id"], row["user_id"],
                                    row["subscription_id"], row["endpoint"], row["p256dh"],
                                    row["auth"], row["attempts"], payloads[row["notice_id"]],
                                    ttl, row["urgency"]))
            for ids, state, error in ((dead, "gone", "unsubscribed"),
                                      (expired, "failed", "expired"),
                                      ([j.delivery_id for j in jobs], "sending", None)):
                db.conn.executemany(
                    "UPDATE push_deliveries SET state = ?, last_error = coalesce(?, last_error), "
                    "updated_at = ? WHERE id = ?", [(state, error, stamp, i) for i in ids])
            ended = set(dead) | set(expired)
            _settle_recipients(db, {(r["notice_id"], r["user_id"]) for r in rows
                                    if r["id"] in ended}, stamp)
        return jobs

    def record(self, outcomes: list[Outcome]) -> None:
        """Write a batch of outcomes: the attempts, the rows' states, the recipients' states."""
        if not outcomes:
            return
        db, now = self.open(), time.time()
        stamp = utc_text(now_utc())
        with write_transaction(db):
            db.conn.executemany(
                """INSERT INTO push_attempts (delivery_id, at, status, error, retry_after,
                       duration_ms) VALUES (?,?,?,?,?,?)""",
                [(o.job.delivery_id, stamp, o.status, o.error, o.retry_after,
                  round(o.duration_ms, 1)) for o in outcomes])
            for o in outcomes:
                attempts = o.job.attempts + 1
                state, next_at = ("failed" if o.state == "refused" else o.state), now
                if state == "retry":
                    if attempts >= self.max_attempts:
                        state = "failed"
                    else:
                        state = "queued"
                        backoff = self.retry_base * 2 ** (attempts - 1)
                        backoff = min(self.retry_max, backoff) * random.uniform(0.8, 1.2)
                        # The service's Retry-After wins when it asks for longer.
                        next_at = now + max(backoff, min(o.retry_after or 0, 3600))
                db.execute(
                    """UPDATE push_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,
                           last_status = ?, last_error = ?, updated_at = ? WHERE id = ?""",
                    [state, attempts, next_at, o.status, o.error, stamp, o.job.delivery_id])
                if o.state in ("gone", "refused"):
                    # Exactly the row and keys this message was sent to: a re-subscribe that
                    # raced the 410 (new keys, same or new endpoint) survives
                    # (docs/field-lessons.md#dead-subscriptions). A refused endpoint never
                    # becomes a push service: it goes too.
                    db.execute("DELETE FROM push_subscriptions WHERE id = ? AND endpoint = ? "
                               "AND p256dh = ?", [o.job.subscription_id, o.job.endpoint,
                                                  o.job.p256dh])
                elif state == "sent":
                    db.execute(
                        """UPDATE notice_recipients SET state = 'sent',
                               pushed_at = coalesce(pushed_at, ?)
                           WHERE notice_id = ? AND user_id = ?""",
                        [stamp, o.job.notice_id, o.job.user_id])
            _settle_recipients(db, {(o.job.notice_id, o.job.user_id) for o in outcomes
                                    if o.state != "sent"}, stamp)

    # the loop ----------------------------------------------------------------------------------

    def _submit(self, job: Job) -> None:
        self.in_flight += 1

        def run():
            try:
                outcome = self.send_one(job)
            except BaseException as e:  # noqa: BLE001 (a sender thread must always report back)
                outcome = Outcome(job, "retry", None, repr(e)[:200], None, 0)
            self.outcomes.put(outcome)

        self.pool.submit(run)

    def send_one(self, job: Job) -> Outcome:
        return send_one(self.session, self.signer, job, policy=self.policy)

    def step(self, wait: float = 0.0) -> int:
        """Claim and send what is due, collect finished sends (waiting up to `wait` s for
        one); return how many outcomes were recorded."""
        if self.signer is None:
            return 0
        capacity = self.threads * 4 - self.in_flight
        if capacity > 0:
            for job in self.claim(capacity):
                self._submit(job)
        done: list[Outcome] = []
        deadline = time.monotonic() + wait
        while self.in_flight:
            try:
                timeout = max(0.0, deadline - time.monotonic())
                outcome = self.outcomes.get(timeout=timeout) if timeout and not done \
                    else self.outcomes.get_nowait()
            except queue.Empty:
                break
            self.in_flight -= 1
            done.append(outcome)
            if len(done) >= 200:
                break
        self.record(done)
        return len(done)

    def pending(self) -> int:
        return self.open().execute(
            "SELECT count(*) FROM push_deliveries WHERE state IN ('queued', 'sending')"
        ).fetchone()[0]

    def next_due_in(self) -> float | None:
        row = self.open().execute("SELECT min(next_attempt_at) FROM push_deliveries "
                                  "WHERE state = 'queued'").fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def periodic(self, force: bool = False) -> None:
        """Automatic notices that depend on the clock (overdue isolation visits)."""
        if not force and time.monotonic() - self._last_check < self.check_every:
            return
        self._last_check = time.monotonic()

        with self.app.app_context():
            try:
                remind_overdue(self.open(), now_utc())
            except Exception:
                log.exception("overdue reminders failed")
            self.retention_once_a_day()

    def retention_once_a_day(self) -> None:
        """With BAODAO_RETENTION_DAYS set, anonymise what is due, once per local day."""
        days = self.app.config["RETENTION_DAYS"]
        day = today(self.app.config["TIMEZONE"])
        if not days or getattr(self, "_retention_day", None) == day:
            return
        self._retention_day = day
        try:
            log.info("retention: %s", anonymise(self.open(), day, days))
        except Exception:
            log.exception("retention failed")

    def run_until_idle(self, timeout: float = 30) -> None:
        """Send until the queue is empty (tests and benchmarks); waits out back-offs."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.step(wait=0.05)
            if not self.in_flight and self.pending() == 0:
                return
            due = self.next_due_in()
            if not self.in_flight and due:
                time.sleep(min(due, max(0.0, end - time.monotonic())))
        raise TimeoutError(f"{self.pending()} deliveries still pending")

    def beat(self, loop: threading.Thread) -> None:
        """Write the heartbeat /healthz reads while the loop lives, from a thread of its own:
        a long send, a slow commit or a long periodic check never holds it up."""
        while loop.is_alive() and not self.stopping.is_set():
            try:
                write_heartbeat(self.app.config["DATA_DIR"])
            except OSError:
                log.exception("push worker heartbeat not written")
            self.stopping.wait(HEARTBEAT_SECONDS)

    def run(self) -> None:
        """The loop of the worker process (or thread) until stop()."""
        log.info("push worker: %s, %d senders",
                 "on" if self.signer else f"off ({self.push.reason})", self.threads)
        self._beat = threading.Thread(target=self.beat, args=(threading.current_thread(),),
                                      name="push-heartbeat", daemon=True)
        self._beat.start()
        while not self.stopping.is_set():
            try:
                self.periodic()
                recorded = self.step(wait=self.poll if self.in_flight else 0)
                if not self.in_flight and not recorded:
                    self.stopping.wait(self.poll)
            except Exception:
                log.exception("push worker step failed; retrying")
                self.stopping.wait(min(5, self.poll * 10))
        self.close()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="push-worker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        while self.in_flight:  # record what the pool finished, so nothing stays 'sending'
            self.in_flight -= 1
            try:
                self.record([self.outcomes.get(timeout=1)])
            except queue.Empty:
                break
        if self.db is not None:
            self.db.close()
            self.db = None
        self.session.close()
        # Stopped: /healthz says so now, not when the last beat grows old.
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join(5)
        (Path(self.app.config["DATA_DIR"]) / HEARTBEAT_FILE).unlink(missing_ok=True)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _settle_recipients(db: sqlite_utils.Database, pairs: set[tuple[str, int]],
                       stamp: str) -> None:
    """A recipient whose every push ended without success and who has not fetched the notice
    yet: failed (some push failed) or gone (every subscription was dead)."""
    db.conn.executemany(
        """UPDATE notice_recipients SET state = CASE WHEN EXISTS (
               SELECT 1 FROM push_deliveries d WHERE d.notice_id = ?1 AND d.user_id = ?2
               AND d.state = 'failed') THEN 'failed' ELSE 'gone' END
           WHERE notice_id = ?1 AND user_id = ?2 AND state = 'queued' AND fetched_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM push_deliveries d WHERE d.notice_id = ?1
               AND d.user_id = ?2 AND d.state IN ('queued', 'sending', 'sent'))""",
        list(pairs))


HEARTBEAT_FILE = "push-worker.alive"
HEARTBEAT_SECONDS = 2.0


def write_heartbeat(data_dir: str) -> None:
    """The time, written to a temporary file and renamed over the heartbeat: a reader sees
    the old time or the new one, never the empty file an in-place write leaves for a moment
    (that moment grew long while the worker's senders held the CPU, so /healthz read "dead"
    during deliveries: docs/push.md#health)."""
    folder = Path(data_dir)
    temp = folder / f".{HEARTBEAT_FILE}.{os.getpid()}.{threading.get_ident()}"
    temp.write_text(repr(time.time()))
    os.replace(temp, folder / HEARTBEAT_FILE)


def worker_alive(data_dir: str, within: float = 30.0) -> bool:
    try:
        return time.time() - float((Path(data_dir) / HEARTBEAT_FILE).read_text()) < within
    except (OSError, ValueError):
        return False


def run_worker(app) -> None:
    """Run the worker in this process until SIGTERM/SIGINT, or until the parent is gone."""
    # Background work: the web server's requests go first. SCHED_IDLE runs the worker only on
    # CPU time nothing else wants (a request waking up preempts it at once); nice as a fallback.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(app.config["PUSH_WORKER_NICE"])
    worker = DeliveryWorker(app)
    parent = os.getppid()

    def stop(*_):
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_parent():
        while not worker.stopping.wait(2):
            if os.getppid() != parent:  # started beside the server, it dies with the server
                worker.stop()

    threading.Thread(target=watch_parent, daemon=True).start()
    worker.run()
