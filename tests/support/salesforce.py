"""simple-salesforce pointed at the sandbox org unchanged: its https:// URLs go over plain http."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from leadlake.sandbox.salesforce_store import CLIENT_ID
from leadlake.sandbox.server import SandboxKeys


class PlainHttp(HTTPAdapter):
    """simple-salesforce builds https:// URLs; the sandbox listens on plain http."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = "http://" + (request.url or "").removeprefix("https://")
        return super().send(request, *args, **kwargs)


def salesforce_client(token: dict[str, Any]) -> Salesforce:
    """simple-salesforce on the session of an OAuth token reply (instance_url, access_token)."""
    session = requests.Session()
    session.mount("https://127.0.0.1", PlainHttp())
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session, version="60.0"
    )


def salesforce_for(url: str) -> Salesforce:
    """simple-salesforce on a session from the sandbox org's OAuth token endpoint (client credentials)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": SandboxKeys().salesforce,
    }
    return salesforce_client(requests.post(f"{url}/services/oauth2/token", data=form, timeout=30).json())
