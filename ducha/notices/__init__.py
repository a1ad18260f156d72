"""Notices: which are due to whom (planning), their text for each format (rendering), the
channels each recipient uses (channels) with secrets resolved only when sending (secrets),
the sending itself (transports), and the ledger that sends each exactly once (outbox)."""
