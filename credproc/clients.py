"""botocore, set up once per process: a session per profile, all sharing one loader (so
the service models, endpoints.json and the scan of botocore's data folder are read once),
and the clients of the services credproc calls (STS, IAM), with bounded timeouts and a
bounded name lookup."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import threading
import urllib.parse
import urllib.request
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

from credproc.entry import Credentials
from credproc.errors import AwsUnreachable, ConfigError, one_line
from credproc.rules import BOTOCORE_SERVICES

# Worst case of one STS call when the endpoint fails: 3 attempts of (2 s to connect + 5 s
# to answer) plus standard mode's backoff (under 1 s + 2 s): about 24 s, within the 30 s
# that an unreachable endpoint may take. connect_timeout does not cover the name lookup, so
# before each call the host name is looked up once, bounded by DNS_SECONDS.
STS_ATTEMPTS, STS_CONNECT_SECONDS, STS_READ_SECONDS, DNS_SECONDS = 3, 2, 5, 5
STS_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "total_max_attempts": STS_ATTEMPTS},  # max_attempts: retries
    connect_timeout=STS_CONNECT_SECONDS,
    read_timeout=STS_READ_SECONDS,
)


class _Loader(botocore.loaders.Loader):  # type: ignore[misc]
    """botocore's loader, told which services there are: credproc's. To learn whether a
    service exists, botocore's own lists every service folder of its data (over 400) for
    each kind of file, on every miss."""

    def list_available_services(self, type_name: str) -> list[str]:
        found = []
        for service in BOTOCORE_SERVICES:
            try:
                if self.list_api_versions(service, type_name):
                    found.append(service)
            except botocore.exceptions.DataNotFoundError:
                pass
        return found


@functools.lru_cache(maxsize=1)
def _loader(data_path: str | None) -> Any:
    """One loader for the process, searching AWS_DATA_PATH first, as botocore's does."""
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in (data_path or "").split(os.pathsep)]
    return _Loader(extra_search_paths=[path for path in extra if path])


@functools.cache
def session(profile: str) -> Any:
    """The botocore session of `profile` (its settings: FIPS, CA bundle, retries...), made
    once; every session of the process loads its data through one loader."""
    made = botocore.session.Session(profile=profile or None)  # "": botocore's default
    made.register_component("data_loader", _loader(made.get_config_variable("data_path")))
    return made


def service_client(
    service: str, profile: str, region: str, endpoint_url: str, source: Credentials
) -> Any:
    """A client of `service` (sts, iam) signing with `source`; `profile` ("" for none) gives
    botocore's other settings."""
    try:
        made = session(profile).create_client(
            service,
            region_name=region or None,
            endpoint_url=endpoint_url or None,
            aws_access_key_id=source.access_key_id,
            aws_secret_access_key=source.secret_access_key,
            aws_session_token=source.session_token or None,
            config=STS_CONFIG,
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        # botocore's messages name the bad region or endpoint; credentials are not in them
        raise ConfigError(
            f"cannot make an {service.upper()} client for profile {profile}: {one_line(str(exc))}",
            f"check region, endpoint_url and AWS_ENDPOINT_URL_{service.upper()}",
        ) from None
    endpoint = made.meta.endpoint_url
    made.meta.events.register(f"before-call.{service}", lambda **_: _check_host_resolves(endpoint))
    return made


def _check_host_resolves(endpoint: str) -> None:
    """Fail at once when the endpoint's host name does not resolve, and after DNS_SECONDS when
    the resolver does not answer (each of botocore's attempts would wait for it again)."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    try:
        ipaddress.ip_address(host)
        return  # an address (or no host at all): nothing to look up
    except ValueError:
        if not host:
            return
    if url.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return  # the proxy looks the name up, which this machine may not be able to do
    try:
        port = url.port or 443
    except ValueError:
        raise ConfigError(
            f"the STS endpoint {endpoint} has a bad port",
            "fix endpoint_url / AWS_ENDPOINT_URL_STS",
        ) from None
    outcome: list[BaseException | None] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append(None)
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=look_up, daemon=True)
    worker.start()
    worker.join(DNS_SECONDS)
    if outcome == [None]:
        return
    reason = "the host name does not resolve" if outcome else f"no DNS answer in {DNS_SECONDS} s"
    raise AwsUnreachable(
        f"cannot reach STS at {endpoint}: {reason}",
        "check the network, region and endpoint_url / AWS_ENDPOINT_URL_STS",
    )
