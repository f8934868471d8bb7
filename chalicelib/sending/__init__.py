"""Sending: templates (content, review, rendering); later providers, fatigue, consent, the sender."""
