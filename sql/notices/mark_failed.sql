-- Marks messages ($ids) failed, with their next retry time and masked error.
-- $retry and $errors side by side with $ids.
UPDATE outbox
SET status = 'failed',
    next_attempt_at = CAST($retry AS TIMESTAMP[])[list_position($ids, notice_id)],
    last_error = CAST($errors AS VARCHAR[])[list_position($ids, notice_id)]
WHERE list_contains($ids, notice_id);
