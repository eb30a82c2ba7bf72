"""Who may see the office: HTTP basic auth (as Flower does it) and the Host names it answers.

Why: the page shows salaries and the agents' error texts. Served beyond loopback it needs
credentials (``--basic-auth user:password``, ``office_basic_auth``). Served on loopback it is
still reachable from a browser on that machine through DNS rebinding (a site whose name
resolves to 127.0.0.1 reads the page as its own), which the Host check stops: only the
loopback names, and the names given, are answered; another Host gets 400.

Both are Starlette's middleware (``TrustedHostMiddleware``, ``AuthenticationMiddleware``),
put around the office's routes only: ``/healthz`` and ``/livez`` stay open to a load balancer
or a Kubernetes probe, which knows no password and asks by the pod's address; they say
nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response

from ..core.errors import OfficeConfigError

__all__ = ["Credential", "LOOPBACK_HOSTS", "BASIC_AUTH_SETTING", "HOSTS_SETTING",
           "parse_credentials", "parse_hosts", "is_loopback",
           "allowed_hosts", "BasicAuth", "guard"]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
BASIC_AUTH_SETTING = "office_basic_auth / OFFICE_BASIC_AUTH"  # what an error names
HOSTS_SETTING = "office_allowed_hosts / OFFICE_ALLOWED_HOSTS"
_LABEL = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*\.?$")
REALM = 'Basic realm="celery-office", charset="UTF-8"'


class Credential(NamedTuple):
    user: str
    password: str


def _items(values: Iterable[str]) -> list[str]:
    """Repeated options and comma-separated settings alike: ``a,b`` and ``a``, ``b``."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_credentials(values: Iterable[str], *, source: str) -> tuple[Credential, ...]:
    """``user:password`` pairs; a malformed one is named by its position, never echoed (it
    may hold a password)."""
    found = []
    for number, item in enumerate(_items(values), 1):
        user, colon, password = item.partition(":")
        problem = ("has no colon" if not colon else "has an empty user name" if not user
                   else "has an empty password" if not password else None)
        if problem:
            raise OfficeConfigError(
                f"{source} #{number} {problem}: give user:password, e.g. "
                "admin:$(openssl rand -hex 16) (several: repeat the option, or separate them "
                "with commas in the setting)")
        found.append(Credential(user, password))
    return tuple(found)


def parse_hosts(values: Iterable[str], *, source: str) -> tuple[str, ...]:
    """Host names (``*.example.com`` for every subdomain) and IP addresses, lowercased; an
    IPv6 address in brackets, as a Host header carries it."""
    found = []
    for item in _items(values):
        host = item.lower()
        if host == "*":
            found.append(host)
            continue
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None:
            found.append(f"[{address}]" if address.version == 6 else str(address))
        elif _HOST_NAME.match(host):
            found.append(host.rstrip("."))
        else:
            raise OfficeConfigError(
                f"{source} {item!r} is not a host name: give the name alone, without scheme, "
                "port or path (every port is answered), e.g. office.example.com or "
                "*.example.com")
    return tuple(found)


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the office on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(extra: Sequence[str], *, bound: str | None = None) -> list[str]:
    """The loopback names, the names given, and the address listened on when it is one
    address (``0.0.0.0`` and ``::`` are every address: their names must be given)."""
    hosts = [*LOOPBACK_HOSTS, *extra]
    if bound:
        try:
            address = ipaddress.ip_address(bound.strip("[]"))
        except ValueError:
            hosts.extend(parse_hosts([bound], source="--host"))
        else:
            if not address.is_unspecified:
                hosts.extend(parse_hosts([str(address)], source="--host"))
    return list(dict.fromkeys(hosts))


class BasicAuth(AuthenticationBackend):
    """HTTP basic auth against ``credentials``, every pair compared in constant time."""

    def __init__(self, credentials: Sequence[Credential]) -> None:
        self.credentials = [(c.user.encode(), c.password.encode()) for c in credentials]

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        scheme, _, encoded = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise AuthenticationError("authentication required")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise AuthenticationError("authentication required") from None
        matched = None
        for known_user, known_password in self.credentials:  # every pair: no early exit
            same = hmac.compare_digest(user, known_user) & hmac.compare_digest(
                password, known_password)
            if same and matched is None:
                matched = known_user
        if matched is None:
            raise AuthenticationError("authentication required")
        return AuthCredentials(["authenticated"]), SimpleUser(matched.decode())


def _unauthorized(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    return PlainTextResponse("authentication required\n", status_code=401,
                             headers={"WWW-Authenticate": REALM, "Cache-Control": "no-store"})


def guard(credentials: Sequence[Credential], hosts: Sequence[str]) -> list[Middleware]:
    """The middleware around the office's routes: the Host check, then the credentials
    (none without credentials: loopback, or ``--no-auth`` behind a proxy of one's own)."""
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))]
    if credentials:
        middleware.append(Middleware(AuthenticationMiddleware, backend=BasicAuth(credentials),
                                     on_error=_unauthorized))
    return middleware
