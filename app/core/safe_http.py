"""HTTP requests to URLs that users chose (export delivery): public internet addresses only.

A manager types `deliver_to`; the scheduler then POSTs a file there. Without care that
is server-side request forgery: the scheduler could be made to post to loopback, the
cloud metadata service (169.254.169.254), the private network, or anywhere a redirect
points. So a URL must:
- be https, with no `user:password@`;
- name a host whose every address (IPv4 and IPv6; IPv4-mapped and 6to4/Teredo addresses
  judged by the IPv4 address inside) is a global unicast address: not private, loopback,
  link-local, shared (100.64/10), reserved, multicast or unspecified. Numeric forms such as
  `0x7f000001` or `2130706433` resolve to what they mean and are judged the same way;
- be connected to at the address that was vetted: the connection is pinned to it (TLS still
  checks the certificate against the host name), so a second DNS answer cannot rebind the
  name to a private address between the check and the connection;
- never be followed through a redirect.

`OUTBOUND_ALLOWED_NETWORKS` (operator configuration, comma-separated CIDRs) admits named
private networks, for an on-premises receiver or a test.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL may not be requested; the message says why, without naming any address."""


@dataclass(frozen=True)
class VettedUrl:
    url: str
    host: str
    port: int
    address: str


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (tests replace this: they have no DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def parse_networks(value) -> tuple:
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if str(item).strip())


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_public_address(address: IPAddress) -> bool:
    inner = _embedded_ipv4(address)
    if inner is not None and not is_public_address(inner):
        return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def vet_url(url: str, allowed_networks=()) -> VettedUrl:
    """The URL with the one address it will be requested at, or UnsafeUrl."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise UnsafeUrl("Not a valid URL.") from None
    if parts.scheme != "https":
        raise UnsafeUrl("Only https URLs are allowed.")
    if "@" in parts.netloc:
        raise UnsafeUrl("A URL with user:password@ is not allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve_host(host, port)]
    except (OSError, UnicodeError, ValueError):
        raise UnsafeUrl("The host name cannot be resolved.") from None
    allowed = parse_networks(allowed_networks)
    if not found or not all(is_public_address(a) or any(a in net for net in allowed) for a in found):
        raise UnsafeUrl("The host is not a public internet address.")
    return VettedUrl(url=url, host=host, port=port, address=str(found[0]))


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the vetted address only, whatever DNS says now; TLS verifies the host name."""

    def __init__(self, vetted: VettedUrl):
        self.vetted = vetted
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self.vetted.address
        host_params["port"] = self.vetted.port
        pool_kwargs["server_hostname"] = self.vetted.host
        pool_kwargs["assert_hostname"] = self.vetted.host
        return host_params, pool_kwargs


def post_to_public_url(url: str, *, data: bytes, headers: dict, timeout: float, allowed_networks=()) -> requests.Response:
    """POST to a user-chosen URL under the rules above. Raises UnsafeUrl or requests' errors."""
    vetted = vet_url(url, allowed_networks)
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc from the environment
        session.mount("https://", PinnedAddressAdapter(vetted))
        session.mount("http://", HTTPAdapter(max_retries=0))  # never used: vet_url allows https only
        netloc = urlsplit(url).netloc
        return session.post(url, data=data, headers={**headers, "Host": netloc}, timeout=timeout,
                            allow_redirects=False)
