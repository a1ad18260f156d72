-- Every kind of notice in the ledger.
SELECT DISTINCT kind
FROM outbox;
