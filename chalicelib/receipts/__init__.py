"""Receipts and inbound chat messages that providers post back (``POST /v1/receipts/{provider}``).

``callbacks`` verifies and parses a request through the provider's adapter and queues what
it finds (``queue``); ``applier`` matches queued receipts to messages and moves their status
(``apply`` decides, ``repo`` stores), counting each change once; ``inbound`` turns chat
messages into ``message_received`` events. Parsers: ``sns`` (SES through SNS) and
``json_receipts`` (webhook and sandbox, signed by ``hmac_receipts``).
"""
