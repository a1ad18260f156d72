-- The messages due for sending at $now, in ledger order.
-- Pending or failed ones with attempts left (fewer than $max) whose time has come, and ones left
-- `sending` by a crash mid-attempt (sent again even after the last attempt); none of a bot's
-- while an earlier one of its own waits for a retry (a bot gets its messages in ledger order).
-- Only the period's when $period is given (NULL: every period).
WITH ledger AS (
    SELECT notice_id, period, channel_url, title, body, body_format, status, attempts,
           next_attempt_at, attachment
    FROM outbox
), retries AS (
    SELECT notice_id, channel_url, status, attempts, next_attempt_at
    FROM outbox
), waiting AS (
    SELECT notice_id, channel_url
    FROM retries
    WHERE status = 'failed' AND attempts < $max AND next_attempt_at > $now
), due AS (
    SELECT *
    FROM ledger
    WHERE ((status IN ('pending', 'failed') AND attempts < $max)
           OR (status = 'sending' AND attempts <= $max))
      AND next_attempt_at <= $now
      AND ($period IS NULL OR period = $period)
), in_order AS (
    SELECT *
    FROM due d
    WHERE NOT EXISTS (
        SELECT 1 FROM waiting w WHERE w.channel_url = d.channel_url AND w.notice_id < d.notice_id
    )
)
SELECT notice_id, channel_url, title, body, body_format, attempts, attachment
FROM in_order
ORDER BY notice_id;
