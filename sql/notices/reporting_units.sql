-- The units with tasks in the year (leads and responsible units), with their task counts.
WITH year_assignments AS (
    SELECT year, unit, task_id
    FROM assignments
)
SELECT unit, count(DISTINCT task_id) AS tasks
FROM year_assignments
WHERE year = $year
GROUP BY unit
ORDER BY unit;
