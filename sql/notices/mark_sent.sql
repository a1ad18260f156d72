-- Marks messages ($ids) sent at their reply times ($at, side by side with $ids).
UPDATE outbox
SET status = 'sent',
    sent_at = CAST($at AS TIMESTAMP[])[list_position($ids, notice_id)],
    last_error = NULL
WHERE list_contains($ids, notice_id);
