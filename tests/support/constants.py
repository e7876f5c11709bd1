"""The values every tier shares: where the repository is, the sandbox's credentials, the
service's public URLs and the return URLs the operator allows."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = Path(os.environ.get("DWOLLA_OPENAPI", ROOT.parent / "shared" / "dwolla" / "openapi.yml"))

DWOLLA_KEY = "sandbox-key-7f3c9a"
DWOLLA_SECRET = "sandbox-secret-0d94be1f5a"
WEBHOOK_SECRET = "webhook-secret-55aa21c0"
LINK_SECRET = "test-link-secret-4c1d8e0b9a7f6e5d4c3b2a1908f7e6d5"  # its own secret, not Dwolla's
PUBLIC_BASE_URL = "https://reauth.example.test/v1"
CALLBACK_URL = f"{PUBLIC_BASE_URL}/reauth/callback"
RETURN_URL = "https://app.example.test/settings/bank"
OTHER_RETURN_URL = "https://app.example.test/onboarding?step=bank"
