"""The first credentials of a chain that botocore knows how to get (SSO, `aws login`, a
credential_process, web identity, the environment, instance and container roles), and its
errors as credproc's."""

from __future__ import annotations

import os
from typing import Any

import botocore
import botocore.compat
import botocore.credentials
import botocore.exceptions

from credproc.clients import session
from credproc.entry import Credentials
from credproc.errors import AwsRefused, AwsUnreachable, ConfigError, one_line
from credproc.profiles import Source
from credproc.rules import CHAIN_ENV, resolving
from credproc.sts import connection_reason

BOTOCORE_PROVIDERS = {
    "process": "custom-process",
    "sso": "sso",
    "login": "login",
    "web-identity": "assume-role-with-web-identity",
    "environment": "env",
    "ec2-metadata": "iam-role",
    "ecs": "container-role",
}
SSO_LOGIN_ERRORS = ("UnauthorizedSSOTokenError", "SSOTokenLoadError", "TokenRetrievalError")
# `aws login`: no token cache, a damaged one, or a refresh token AWS no longer takes
AWS_LOGIN_ERRORS = ("LoginTokenLoadError", "LoginRefreshRequired")
# what makes botocore read `aws login` profiles: awscrt, for the DPoP key of the token cache
LOGIN_EXTRA = "pip install 'credproc[login]'"
LOGIN_PYZ = "make -f zipapp.mk EXTRAS=login"  # the one-file build that carries awscrt


def login_unavailable(profile: str) -> ConfigError | None:
    """Why botocore cannot read the `aws login` profile `profile` here, or None when it can:
    botocore's own switch, its import of awscrt's EC (None without awscrt), is what counts."""
    if not hasattr(botocore.credentials, "LoginProvider"):
        return ConfigError(
            f"profile {profile} is an `aws login` profile (login_session), which botocore "
            f"{botocore.__version__} cannot read",
            f"upgrade botocore: {LOGIN_EXTRA} --upgrade",
        )
    if getattr(botocore.compat, "EC", None) is not None:
        return None
    if os.environ.get("BOTO_DISABLE_CRT", "").lower() == "true":
        fix = "unset BOTO_DISABLE_CRT: botocore needs awscrt"
    else:
        fix = f"install awscrt: {LOGIN_EXTRA}, or build credproc.pyz with {LOGIN_PYZ}"
    return ConfigError(
        f"profile {profile} is an `aws login` profile (login_session), which botocore reads "
        "only with the awscrt package",
        fix,
    )


def load(source: Source, profile: str) -> Credentials:
    """The source's credentials, for a plan of `profile`."""
    unavailable = login_unavailable(source.profile) if source.kind == "login" else None
    if unavailable is not None:
        raise unavailable
    if source.kind == "environment":
        # an explicit profile drops the environment from botocore's chain, so ask it directly
        provider: Any = botocore.credentials.EnvProvider()
    else:
        resolver = botocore.credentials.create_credential_resolver(session(source.profile))
        provider = resolver.get_provider(BOTOCORE_PROVIDERS[source.kind])
    outer = os.environ.get(CHAIN_ENV)
    # seen by a credproc that a source's credential_process runs, and by nothing else
    os.environ[CHAIN_ENV] = ",".join([*resolving(), profile])
    try:
        loaded = provider.load()
        frozen = loaded.get_frozen_credentials() if loaded else None  # SSO fetches only here
    except Exception as exc:
        raise _failed(exc, source) from None
    finally:
        if outer is None:
            del os.environ[CHAIN_ENV]
        else:
            os.environ[CHAIN_ENV] = outer
    if frozen is None:
        raise ConfigError(
            f"profile {source.profile} gave no credentials ({source.kind})",
            f"check profile {source.profile}",
        )
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or "", 0)


def _failed(exc: Exception, source: Source) -> Exception:
    """What went wrong getting a source's credentials, as one of credproc's errors."""
    name, fix = source.profile, f"check profile {source.profile}"
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return AwsUnreachable(
            f"cannot reach the credential source of profile {name}: {connection_reason(exc)}",
            "check the network",
        )
    if type(exc).__name__ in AWS_LOGIN_ERRORS:
        return AwsRefused(
            f"the `aws login` session of profile {name} is missing or expired",
            f"run `aws login --profile {name}`",
        )
    if type(exc).__name__ in SSO_LOGIN_ERRORS:
        return AwsRefused(
            f"the SSO login of profile {name} is missing or expired",
            f"run `aws sso login --profile {name}`",
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return AwsRefused(
            f"the credential source of profile {name} refused: "
            f"{error.get('Code', 'Unknown')}: {one_line(error.get('Message', ''))}",
            fix,
        )
    if isinstance(exc, (botocore.exceptions.BotoCoreError, OSError, ValueError, RuntimeError)):
        reason = one_line(str(exc) or type(exc).__name__, 200)
        return ConfigError(f"cannot get the credentials of profile {name}: {reason}", fix)
    return exc  # not a failure of the source: a bug, reported as one
