-- Marks the claimed messages ($ids) `sending` with their attempt numbers.
-- $attempts side by side with $ids; a notice is in at most one claim of a batch.
UPDATE outbox
SET status = 'sending',
    attempts = CAST($attempts AS INTEGER[])[list_position($ids, notice_id)]
WHERE list_contains($ids, notice_id);
