-- When each unit's first accepted file for the period arrived.
WITH received AS (
    SELECT unit, period, status, received_at
    FROM submissions
), accepted AS (
    SELECT unit, received_at
    FROM received
    WHERE status = 'accepted' AND period = $period
)
SELECT unit, min(received_at) AS received_at
FROM accepted
GROUP BY unit;
