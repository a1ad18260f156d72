-- When each unit's first accepted file for the period arrived.
SELECT unit, min(received_at) AS received_at
FROM submissions
WHERE status = 'accepted' AND period = $period
GROUP BY unit;
