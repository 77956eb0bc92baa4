"""credproc: one credential_process helper for MFA-protected AWS roles."""

__version__ = "0.1.0"
