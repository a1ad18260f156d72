-- Writes the replies to the messages' current attempts.
-- $ids with $attempts, $at, $ok and masked $errors side by side; a notice is in at most one reply
-- of a batch.
UPDATE outbox_attempts
SET finished_at = CAST($at AS TIMESTAMP[])[list_position($ids, notice_id)],
    ok = CAST($ok AS BOOLEAN[])[list_position($ids, notice_id)],
    error = CAST($errors AS VARCHAR[])[list_position($ids, notice_id)]
WHERE list_contains($ids, notice_id)
  AND attempt = CAST($attempts AS INTEGER[])[list_position($ids, notice_id)];
