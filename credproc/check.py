"""`credproc check`: the chain credproc would follow for a profile, and every problem seen."""

from __future__ import annotations

from credproc.config import AwsConfig, file_profiles, served_profile
from credproc.entry import SESSION
from credproc.errors import ConfigError
from credproc.plan import Plan, build
from credproc.profiles import VAULT
from credproc.prompt import NONE, choose, pinentry


def _describe(plan: Plan) -> list[str]:
    source = plan.source
    kind = "long-term keys" if source.long_term else "temporary credentials"
    what = "keys in credproc's vault" if source.kind == VAULT else source.kind
    lines = [f"source: profile {source.profile}, {what} ({kind})"]
    for number, step in enumerate(plan.steps, 1):
        call = "GetSessionToken" if step.kind == SESSION else f"AssumeRole {step.role_arn}"
        mfa = f", MFA code for {step.mfa_serial}" if step.mfa_serial else ""
        where = step.endpoint_url or f"STS in {step.region}"
        lines.append(
            f"step {number}: {call} ({step.duration} s{mfa}) via {where} [profile {step.profile}]"
        )
    return lines


def _taken_over(config: AwsConfig, name: str) -> list[str]:
    """Profiles that run credproc for `name` but that SDKs resolve themselves instead."""
    return [
        f"profile {profile.name} has role_arn, so every SDK assumes the role itself and "
        f"never runs its credential_process (remove role_arn/source_profile/mfa_serial "
        f"from [profile {profile.name}]; keep them in [profile {name}])"
        for profile in config.profiles.values()
        if profile.get("role_arn") and served_profile(profile) == name
    ]


def _plaintext_beside_vault(config: AwsConfig, plan: Plan) -> list[str]:
    """Keys in the AWS files of a profile whose vault keys win: a copy in plain text."""
    profile = plan.source.profile
    if plan.source.kind != VAULT:
        return []
    files = [(config.credentials_file, False), (config.config_file, True)]
    return [
        f"profile {profile} has plaintext keys in {path} beside its keys in the vault, which "
        f"win (run `credproc add {profile} --from-file` to remove them if they are the same "
        "keys; otherwise delete those lines)"
        for path, is_config in files
        if {"aws_access_key_id", "aws_secret_access_key"}
        & set(file_profiles(path, config_file=is_config).get(profile, {}))
    ]


def explain(config: AwsConfig, name: str) -> tuple[list[str], list[str]]:
    """Lines to print, and the problems among them."""
    problems = _taken_over(config, name)
    lines = [f"profile {name}:"]
    try:
        plan = build(config, name)
    except ConfigError as exc:
        problems.insert(0, exc.message())
        plan = None
    if plan is not None:
        lines += ["  " + line for line in _describe(plan)]
        if plan.source.kind == "login":  # only then botocore is imported, to ask it
            from credproc.sources import login_unavailable

            unavailable = login_unavailable(plan.source.profile)
            if unavailable is not None:
                problems.append(unavailable.message())
        problems += _plaintext_beside_vault(config, plan)
        if any(step.mfa_serial for step in plan.steps):
            try:
                method = choose(plan.settings)
            except ConfigError as exc:
                problems.append(exc.message())
                method = ""
            if method == NONE:
                problems.append(
                    "no way to ask for the MFA code here (no terminal, no "
                    "credproc_mfa_process, no graphical pinentry)"
                )
            elif method == "pinentry" and not pinentry.program(plan.settings):
                problems.append("credproc_prompt = pinentry but no pinentry program was found")
            elif method:
                lines.append(f"  MFA code asked via: {method}")
    lines += [f"  problem: {problem}" for problem in problems]
    lines.append("  no problems found" if not problems else f"  {len(problems)} problem(s)")
    return lines, problems
