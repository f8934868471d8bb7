"""Sending: templates (content, review, rendering), providers, fatigue and consent, the sender, receipts."""
