"""Governance: what must never be sent (suppression), and later erasure and retention."""
