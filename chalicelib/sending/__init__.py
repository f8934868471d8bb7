"""Sending: templates, fatigue and consent, the sender, receipts."""
