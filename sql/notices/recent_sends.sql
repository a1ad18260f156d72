-- Each message's channel URL and when its bot last saw it, since $since, oldest first.
-- Its reply, or its start when unfinished (in flight when a run was killed: the bot may have it).
WITH attempts AS (
    SELECT notice_id, started_at, finished_at
    FROM outbox_attempts
), ledger AS (
    SELECT notice_id, channel_url
    FROM outbox
), seen AS (
    SELECT o.channel_url, coalesce(a.finished_at, a.started_at) AS seen
    FROM attempts a
    JOIN ledger o USING (notice_id)
    WHERE o.channel_url IS NOT NULL
)
SELECT channel_url, seen
FROM seen
WHERE seen >= $since
ORDER BY seen;
