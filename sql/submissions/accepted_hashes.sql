-- Every accepted file's hash with the unit and period it was accepted for.
WITH received AS (
    SELECT sha256, unit, period, status
    FROM submissions
)
SELECT sha256, unit, period
FROM received
WHERE status = 'accepted';
