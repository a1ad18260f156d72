-- The period's notices in the ledger, of the kinds asked for, in the order they were queued.
SELECT kind, recipient, channel, title, status, file_path, last_error
FROM outbox
WHERE period = $p AND list_contains($kinds, kind)
ORDER BY notice_id;
