"""Destination adapters: where scored leads are delivered (CRMs)."""
