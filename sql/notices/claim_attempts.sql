-- Writes the claimed messages' attempts: started, not finished yet.
-- $ids, $attempts, $started and the masked $channels side by side.
INSERT INTO outbox_attempts
WITH claimed AS (
    SELECT
        unnest($ids) AS notice_id,
        unnest(CAST($attempts AS INTEGER[])) AS attempt,
        unnest(CAST($started AS TIMESTAMP[])) AS started_at,
        unnest(CAST($channels AS VARCHAR[])) AS channel
)
SELECT notice_id, attempt, started_at, NULL, channel, NULL, NULL
FROM claimed;
