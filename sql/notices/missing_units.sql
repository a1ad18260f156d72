-- The units with tasks in the year and no accepted file for the period, with their task counts and
-- whether they have opened their portal link for the period (已读).
WITH year_assignments AS (
    SELECT year, unit, task_id
    FROM assignments
), received AS (
    SELECT unit, period, status
    FROM submissions
), reporting AS (
    SELECT unit, count(*) AS tasks
    FROM year_assignments
    WHERE year = $year
    GROUP BY unit
), opened AS (
    SELECT DISTINCT unit
    FROM portal_events
    WHERE action = 'view' AND period = $period AND unit IS NOT NULL
), accepted AS (
    SELECT unit
    FROM received
    WHERE status = 'accepted' AND period = $period AND unit IS NOT NULL
)
SELECT r.unit, r.tasks, r.unit IN (SELECT unit FROM opened) AS opened
FROM reporting r
WHERE r.unit NOT IN (SELECT unit FROM accepted)
ORDER BY r.unit;
