-- The idempotency keys among $k that the ledger already holds.
WITH ledger AS (
    SELECT idempotency_key
    FROM outbox
)
SELECT idempotency_key
FROM ledger
WHERE idempotency_key IN (SELECT unnest($k));
