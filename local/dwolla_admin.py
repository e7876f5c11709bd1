"""A small client for the local Dwolla sandbox's admin API (seeding, faults, request log)."""

from __future__ import annotations

import requests


class SandboxAdmin:
    def __init__(self, base_url: str, key: str = "sandbox-key", secret: str = "sandbox-secret"):
        self.base_url = base_url.rstrip("/")
        self.key, self.secret = key, secret
        self._http = requests.Session()

    def _call(self, method: str, path: str, body: dict | None = None):
        answer = self._http.request(method, f"{self.base_url}/_admin{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed_exchange(self, partner: str = "mx", **fields) -> dict:
        return self._call("POST", "/exchanges", {"partner": partner, **fields})

    def set_outcome(self, exchange: dict, outcome: str) -> dict:
        """Re-seed `exchange` (as seed_exchange answered it: same ids, partner, funding source
        and customer) so that the bank reports `outcome` on its next session."""
        keep = ("id", "fundingSourceId", "customerId")
        return self.seed_exchange(
            exchange.get("partner", "mx"),
            **{name: exchange[name] for name in keep},
            providerOutcome=outcome,
        )

    def seed_bank_funding_source(self, customer_id: str, **fields) -> dict:
        """A customer's bank added by account and routing numbers (no exchange): its balance
        answers. Returns {"id", "customerId", "removed", "created"}."""
        return self._call("POST", "/funding-sources", {"customerId": customer_id, **fields})

    def exchange(self, exchange_id: str) -> dict:
        return self._call("GET", f"/exchanges/{exchange_id}")

    def set_redirect_urls(self, *urls: str) -> None:
        self._call("PUT", "/redirect-urls", {"urls": list(urls)})

    def set_open_banking_scope(self, granted: bool) -> None:
        self._call("PUT", "/scopes", {"openBanking": granted})

    def complete_exchange_session(self, session_id: str, outcome: str = "success") -> None:
        """Finish a session as the bank would; `session_id` may also be a Plaid Link token."""
        self._call("POST", f"/exchange-sessions/{session_id}/complete", {"outcome": outcome})

    def require_reauth(self, exchange_id: str) -> dict:
        """The exchange needs re-authentication again; Dwolla records a
        customer_exchange_reauth_required event. Returns {"exchange", "event"}."""
        return self._call("POST", f"/exchanges/{exchange_id}/reauth-required")

    def add_event(
        self,
        topic: str,
        resource_id: str,
        customer_id: str | None = None,
        resource_path: str | None = None,
    ) -> dict:
        body: dict = {"topic": topic, "resourceId": resource_id}
        if customer_id is not None:
            body["customerId"] = customer_id
        if resource_path is not None:
            body["resourcePath"] = resource_path
        return self._call("POST", "/events", body)

    def events(self) -> list[dict]:
        return self._call("GET", "/events")

    def expire_tokens(self) -> None:
        self._call("POST", "/tokens/expire")

    def inject_fault(self, path: str, method: str | None = None, times: int = 1, **fault) -> None:
        body = {"path": path, "times": times, **fault}
        if method:
            body["method"] = method
        self._call("POST", "/faults", body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self) -> list[dict]:
        return self._call("GET", "/requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def balance_error(self, funding_source_id: str) -> dict:
        """What Dwolla answers a balance check while the exchange needs re-authentication
        (the body a platform forwards as a "Dwolla UpdateCredentials" event)."""
        answer = self._http.get(
            f"{self.base_url}/funding-sources/{funding_source_id}/balance",
            headers={
                "Accept": "application/vnd.dwolla.v1.hal+json",
                "Authorization": f"Bearer {self._token()}",
            },
            timeout=10,
        )
        return answer.json()

    def set_webhook_settings(self, **settings: float) -> dict:
        """PUT /_admin/webhook-settings: timeScale, maxSubscriptions, pauseAfterFailures."""
        return self._call("PUT", "/webhook-settings", settings)

    def access_token(self) -> str:
        """A fresh access token for calling the sandbox's Dwolla API directly."""
        return self._token()

    def _token(self) -> str:
        answer = self._http.post(
            f"{self.base_url}/token",
            auth=(self.key, self.secret),
            data={"grant_type": "client_credentials"},
            timeout=10,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def exchange_sessions(self) -> list[dict]:
        return self._call("GET", "/exchange-sessions")
