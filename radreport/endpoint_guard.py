"""The privacy guard for every request that carries report text (LLM structuring, the GREEN judge).

The configured host is checked before anything is sent, and again where it matters, at the socket: the HTTP client
resolves the name itself, refuses any address outside the allowed classes and connects to the address it checked (so
a name that resolves elsewhere later cannot slip by). It never follows redirects and never reads proxy variables, so
neither a 307 nor HTTP_PROXY can carry findings to a host the guard did not see.

Allowed by default: this machine only (loopback). A private network (RFC 1918, IPv6 unique-local fc00::/7,
link-local) needs `allow_private_network`, anywhere else `allow_external`.
"""

import ipaddress
import socket
from urllib.parse import urlparse

import httpcore
import httpx

from radreport.errors import RadreportError

LOOPBACK, PRIVATE, EXTERNAL = "loopback", "private network", "external"


class EndpointRefused(RadreportError):
    """The privacy guard refused an endpoint, an address or a redirect."""


# Python's is_private also covers ranges that route off this network (Teredo 2001::/23, benchmarking 198.18/15,
# documentation prefixes): only these, and link-local addresses, count as a private network.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


def address_class(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%")[0])
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if ip.is_loopback:
        return LOOPBACK
    return PRIVATE if ip.is_link_local or any(ip in network for network in PRIVATE_NETWORKS) else EXTERNAL


def resolve(host: str, port: int | None = None) -> list[str]:
    """The host's addresses; none when it does not resolve."""
    try:
        return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
    except (socket.gaierror, UnicodeError):
        return []


def allowed_classes(allow_private_network: bool, allow_external: bool) -> frozenset[str]:
    if allow_external:
        return frozenset({LOOPBACK, PRIVATE, EXTERNAL})
    return frozenset({LOOPBACK, PRIVATE} if allow_private_network else {LOOPBACK})


def host_class(host: str) -> str:
    """The widest class among the host's addresses (a name that does not resolve counts as external)."""
    classes = {address_class(a) for a in resolve(host)} or {EXTERNAL}
    return next(c for c in (EXTERNAL, PRIVATE, LOOPBACK) if c in classes)


def refusal(setting: str, where: str, cls: str) -> EndpointRefused:
    flag = "allow_private_network" if cls == PRIVATE else "allow_external"
    return EndpointRefused(f"{setting} endpoint {where} is on {'a ' + cls if cls == PRIVATE else 'an external host'}, "
                           f"not this machine; set {setting}.{flag}: true to send reports there")


def check_endpoint(base_url: str, setting: str, allow_private_network: bool = False,
                   allow_external: bool = False) -> tuple[str, str]:
    """(host, class) of the endpoint, or EndpointRefused when its class is not allowed."""
    host = urlparse(base_url).hostname or ""
    cls = host_class(host)
    if cls not in allowed_classes(allow_private_network, allow_external):
        raise refusal(setting, repr(host), cls)
    return host, cls


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses of an allowed class, and only to the address it checked."""

    def __init__(self, allowed: frozenset[str], setting: str):
        self.inner, self.allowed, self.setting = httpcore.AnyIOBackend(), allowed, setting

    async def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
        addresses = resolve(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} does not resolve")
        for address in addresses:
            if address_class(address) not in self.allowed:
                raise refusal(self.setting, f"{host!r} (address {address})", address_class(address))
        for address in addresses:  # each checked address in turn, as a plain connect would (localhost: ::1, 127.0.0.1)
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                    socket_options=socket_options)
            except httpcore.ConnectError as error:
                failure = error
        raise failure

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise EndpointRefused(f"{self.setting}: unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(setting: str, timeout_s: float, allow_private_network: bool = False,
                   allow_external: bool = False) -> httpx.AsyncClient:
    """An httpx client for an OpenAI SDK: no redirects, no proxy variables, addresses checked at connect."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool._network_backend = GuardedBackend(allowed_classes(allow_private_network, allow_external), setting)
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False, timeout=timeout_s)


def as_refusal(error: BaseException, setting: str) -> EndpointRefused | None:
    """The guard's refusal inside an SDK error (the SDK wraps transport errors), or a redirect turned into one."""
    if isinstance(error, EndpointRefused):
        return error
    if isinstance(error.__cause__, EndpointRefused):
        return error.__cause__
    response = getattr(error, "response", None)
    if response is not None and 300 <= response.status_code < 400:
        target = urlparse(response.headers.get("location", "")).hostname or "?"
        return EndpointRefused(f"{setting} endpoint answered {response.status_code}, a redirect to {target!r}; "
                               "redirects are not followed: set base_url to the final address")
    return None
