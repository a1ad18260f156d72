-- The latest accepted submission of each (unit, period).
WITH latest AS (
    SELECT submission_id, unit, period
    FROM latest_submissions
)
SELECT submission_id, unit, period
FROM latest;
