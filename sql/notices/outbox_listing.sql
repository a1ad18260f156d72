-- The period's notices of the kinds asked for ($kinds), in the order they were queued.
WITH ledger AS (
    SELECT notice_id, period, kind, recipient, channel, title, status, file_path, last_error
    FROM outbox
)
SELECT kind, recipient, channel, title, status, file_path, last_error
FROM ledger
WHERE period = $p AND list_contains($kinds, kind)
ORDER BY notice_id;
